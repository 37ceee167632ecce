//! The institution's own signing key: an Ed25519 key pair whose seed is stored like every
//! other tenant key, wrapped under the KEK in the key store ([`crate::keys`], purpose
//! `signing`, made at first use) and destroyed with them at offboarding (crypto-shredding).
//! It signs the institution's statements to people (erasure receipts); anyone verifies them
//! with the published public key ([`ReceiptSigner::public_key`]).

use crate::Tenancy;
use crate::error::TenantError;
use crate::scope::TenantScope;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

/// The scope's tenant's signing key, ready to sign.
pub struct ReceiptSigner {
    key_id: String,
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for ReceiptSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReceiptSigner({})", self.key_id)
    }
}

impl ReceiptSigner {
    /// Names the key in signatures and in the published key set (`<tenant>-signing-<version>`).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The 32-byte Ed25519 public key.
    pub fn public_key(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }
}

/// Whether `signature` is `public_key`'s Ed25519 signature of `message`.
pub fn verify_ed25519(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(message, signature)
        .is_ok()
}

impl Tenancy {
    /// The signing key of the scope's tenant (made and stored at first use).
    pub async fn receipt_signer(&self, scope: &TenantScope) -> Result<ReceiptSigner, TenantError> {
        let tenant = scope.tenant_id();
        let (version, seed) = self.keys.signing_key(tenant).await?;
        let pair = Ed25519KeyPair::from_seed_unchecked(seed.expose())
            .map_err(|_| TenantError::Conflict("the signing key is unusable".into()))?;
        Ok(ReceiptSigner {
            key_id: format!("{tenant}-signing-{version}"),
            pair,
        })
    }
}
