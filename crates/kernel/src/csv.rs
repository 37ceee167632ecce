//! CSV as the product writes it (RFC 4180): one cell and one line. Every CSV the API serves
//! (exports, the record of processing, reports) writes its cells here, so each is defused the
//! same way: a text a spreadsheet would run as a formula gets a leading `'`, and a cell
//! holding a comma, a quote or a line break is quoted, quotes doubled.

/// One cell as written.
pub fn cell(text: &str) -> String {
    let neutral = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if neutral.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", neutral.replace('"', "\"\""))
    } else {
        neutral
    }
}

/// One line (CRLF-terminated).
pub fn row<'a>(cells: impl Iterator<Item = &'a str>) -> String {
    let mut line = cells.map(cell).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_defused() {
        assert_eq!(cell("a, b"), "\"a, b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=1+1"), "'=1+1");
        assert_eq!(cell("\tx"), "'\tx");
        assert_eq!(cell("plain"), "plain");
        assert_eq!(row(["a", "b,c"].into_iter()), "a,\"b,c\"\r\n");
    }
}
