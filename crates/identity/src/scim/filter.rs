//! SCIM's `filter` parameter (RFC 7644 §3.4.2.2), as far as it is supported: equality on one
//! attribute, which is what IdPs send to find a resource before creating it.

use crate::error::IdentityError;

/// A parsed `filter`: SCIM's full grammar is large; IdPs use equality on one attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EqFilter {
    pub attribute: String,
    pub value: String,
}

/// Parses `<attribute> eq "<value>"`. Anything else is `invalidFilter`.
pub fn parse_filter(text: &str, allowed: &[&str]) -> Result<EqFilter, IdentityError> {
    let invalid = |why: &str| IdentityError::ScimInvalid {
        scim_type: "invalidFilter",
        detail: format!("{why}; supported: {} eq \"value\"", allowed.join(" or ")),
    };
    if text.len() > 500 {
        return Err(invalid("the filter is too long"));
    }
    let text = text.trim();
    let (attribute, rest) = text
        .split_once(char::is_whitespace)
        .ok_or_else(|| invalid("the filter is not `attribute eq \"value\"`"))?;
    let (op, value) = rest
        .trim_start()
        .split_once(char::is_whitespace)
        .ok_or_else(|| invalid("the filter is not `attribute eq \"value\"`"))?;
    if !op.eq_ignore_ascii_case("eq") {
        return Err(invalid(&format!("operator `{op}` is not supported")));
    }
    let attribute = allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(attribute))
        .ok_or_else(|| invalid(&format!("attribute `{attribute}` cannot be filtered on")))?;
    let value: String = serde_json::from_str(value.trim())
        .map_err(|_| invalid("the value must be a JSON string in double quotes"))?;
    Ok(EqFilter {
        attribute: attribute.to_string(),
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_equality_on_one_allowed_attribute() {
        assert_eq!(
            parse_filter(r#"userName eq "alice@uni.test""#, &["userName"]).unwrap(),
            EqFilter {
                attribute: "userName".into(),
                value: "alice@uni.test".into()
            }
        );
        assert_eq!(
            parse_filter(r#"username EQ "a \"quoted\" name""#, &["userName"])
                .unwrap()
                .value,
            "a \"quoted\" name"
        );
        for garbage in [
            "",
            "userName",
            r#"userName co "a""#,
            r#"password eq "x""#,
            r#"userName eq alice"#,
            r#"userName eq "a" and active eq true"#,
            "((((",
        ] {
            assert!(parse_filter(garbage, &["userName"]).is_err(), "{garbage}");
        }
    }
}
