//! Envelope encryption for personal data.
//!
//! Each tenant has versioned data keys (AES-256-GCM) and versioned blind-index keys
//! (HMAC-SHA-256): one version of each is active (seals, indexes); retired ones are held
//! while a rotation re-seals or re-indexes, so stored values still open and still match.
//! Keys are stored only wrapped by a key-encryption key ([`KeyEncryptionKey`]), which comes
//! from configuration for development and from an external KMS in production. Unwrapped keys
//! live in memory, are zeroized on drop and never print.
//!
//! Every ciphertext is bound by its associated data ([`Aad`]) to the tenant, table, column and
//! row it was written for: a ciphertext copied to another row, column or tenant does not open.

use aes_gcm::aead::{Aead, AeadInOut, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::fmt;
use uuid::Uuid;
use zeroize::Zeroizing;

/// Length of every symmetric key, in bytes.
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// First byte of every ciphertext: lets the layout change without guessing.
const FORMAT_V1: u8 = 1;
const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;
/// Blind indexes are truncated HMACs: long enough to be collision-free in practice, short
/// enough that one value does not leak through its index alone.
pub const BLIND_INDEX_LEN: usize = 16;
/// An index under key version 1 is the bare truncated HMAC (as every index stored before
/// index keys rotated); under a later version it is that version (4 bytes, big endian)
/// followed by the HMAC, so a stored index says which key made it, in SQL as in code.
pub const VERSIONED_BLIND_INDEX_LEN: usize = 4 + BLIND_INDEX_LEN;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("ciphertext is malformed")]
    Malformed,
    #[error("ciphertext was sealed under key version {0}, which this key ring does not hold")]
    UnknownKeyVersion(u32),
    #[error("ciphertext failed authentication (wrong key or wrong context)")]
    Inauthentic,
    #[error("key material has the wrong length")]
    BadKeyLength,
    #[error("the key-encryption key is unavailable: {0}")]
    KekUnavailable(String),
}

/// Raw key bytes that zeroize on drop and never print.
pub struct KeyMaterial(Zeroizing<[u8; KEY_LEN]>);

impl KeyMaterial {
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rand::rng().fill_bytes(bytes.as_mut());
        Self(bytes)
    }

    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let array: [u8; KEY_LEN] = bytes.try_into().map_err(|_| CryptoError::BadKeyLength)?;
        Ok(Self(Zeroizing::new(array)))
    }

    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyMaterial(<redacted>)")
    }
}

/// Where a ciphertext belongs. Sealing and opening must name the same place.
#[derive(Debug, Clone, Copy)]
pub struct Aad<'a> {
    pub tenant: Uuid,
    pub table: &'a str,
    pub column: &'a str,
    pub row: Uuid,
}

impl Aad<'_> {
    /// Associated data of usual table and column names is built on the stack: this runs twice
    /// per personal field on every read and write.
    fn encode(&self) -> EncodedAad {
        let len = AAD_FIXED_LEN + self.table.len() + self.column.len();
        if len <= AAD_INLINE {
            let mut bytes = [0u8; AAD_INLINE];
            let mut at = 0;
            self.write(|part| {
                bytes[at..at + part.len()].copy_from_slice(part);
                at += part.len();
            });
            EncodedAad::Inline { bytes, len: at }
        } else {
            let mut out = Vec::with_capacity(len);
            self.write(|part| out.extend_from_slice(part));
            EncodedAad::Heap(out)
        }
    }

    /// The encoding is part of the ciphertext format: changing it makes stored data unreadable.
    fn write(&self, mut push: impl FnMut(&[u8])) {
        push(b"dxh1");
        push(self.tenant.as_bytes());
        push(self.row.as_bytes());
        // Length-prefixed so ("ab","c") and ("a","bc") differ.
        for part in [self.table, self.column] {
            push(&(part.len() as u32).to_be_bytes());
            push(part.as_bytes());
        }
    }
}

/// Magic, tenant, row and the two length prefixes.
const AAD_FIXED_LEN: usize = 4 + 16 + 16 + 4 + 4;
/// Leaves 84 bytes for the table and column names before the encoding spills to the heap.
const AAD_INLINE: usize = 128;

enum EncodedAad {
    Inline { bytes: [u8; AAD_INLINE], len: usize },
    Heap(Vec<u8>),
}

impl EncodedAad {
    fn as_slice(&self) -> &[u8] {
        match self {
            Self::Inline { bytes, len } => &bytes[..*len],
            Self::Heap(bytes) => bytes,
        }
    }
}

/// One version of a tenant's data-encryption key, with its AES key schedule ready.
pub struct DataKey {
    version: u32,
    cipher: Aes256Gcm,
}

impl DataKey {
    pub fn new(version: u32, material: &KeyMaterial) -> Result<Self, CryptoError> {
        let cipher =
            Aes256Gcm::new_from_slice(material.expose()).map_err(|_| CryptoError::BadKeyLength)?;
        Ok(Self { version, cipher })
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    /// Layout: format byte, key version (big endian), nonce, ciphertext with tag.
    ///
    /// The result is built in one allocation: header, then the plaintext encrypted in place,
    /// then the tag.
    pub fn seal(&self, aad: &Aad<'_>, plaintext: &[u8]) -> Vec<u8> {
        // A fresh random 96-bit nonce per field, from the thread's CSPRNG (seeded by the OS).
        let mut nonce_bytes = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce_bytes);
        let nonce = Nonce::from(nonce_bytes);
        let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
        out.push(FORMAT_V1);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(plaintext);
        let sealed = self.cipher.encrypt_inout_detached(
            &nonce,
            aad.encode().as_slice(),
            (&mut out[HEADER_LEN..]).into(),
        );
        match sealed {
            Ok(tag) => {
                out.extend_from_slice(&tag);
                out
            }
            // AES-GCM encryption only fails for messages beyond 64 GiB, which no field
            // reaches; the buffer still holds the plaintext then, and what is returned never
            // opens.
            Err(_) => {
                zeroize::Zeroize::zeroize(&mut out);
                Vec::new()
            }
        }
    }

    /// Opens `body` (ciphertext then tag) into one allocation of exactly the plaintext's size.
    fn open(&self, aad: &Aad<'_>, nonce: &[u8], body: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let nonce_bytes: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Malformed)?;
        let Some(msg_len) = body.len().checked_sub(TAG_LEN) else {
            return Err(CryptoError::Inauthentic);
        };
        let (msg, tag) = body.split_at(msg_len);
        let tag = Tag::try_from(tag).map_err(|_| CryptoError::Malformed)?;
        let mut plain = msg.to_vec();
        self.cipher
            .decrypt_inout_detached(
                &Nonce::from(nonce_bytes),
                aad.encode().as_slice(),
                plain.as_mut_slice().into(),
                &tag,
            )
            .map_err(|_| CryptoError::Inauthentic)?;
        Ok(plain)
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataKey(v{}, <redacted>)", self.version)
    }
}

/// Reads the key version a ciphertext was sealed under, without opening it.
pub fn sealed_key_version(ciphertext: &[u8]) -> Result<u32, CryptoError> {
    if ciphertext.len() < HEADER_LEN || ciphertext[0] != FORMAT_V1 {
        return Err(CryptoError::Malformed);
    }
    let mut version = [0u8; 4];
    version.copy_from_slice(&ciphertext[1..5]);
    Ok(u32::from_be_bytes(version))
}

/// Reads the index-key version a stored blind index was made under.
pub fn blind_index_version(index: &[u8]) -> Result<u32, CryptoError> {
    match index.len() {
        BLIND_INDEX_LEN => Ok(1),
        VERSIONED_BLIND_INDEX_LEN => {
            let mut version = [0u8; 4];
            version.copy_from_slice(&index[..4]);
            Ok(u32::from_be_bytes(version))
        }
        _ => Err(CryptoError::Malformed),
    }
}

/// The keyed hash used for equality lookups of encrypted values.
pub struct BlindIndexKey {
    version: u32,
    mac: Hmac<Sha256>,
}

impl BlindIndexKey {
    /// Version 1 of a tenant's index key.
    pub fn new(material: &KeyMaterial) -> Result<Self, CryptoError> {
        Self::versioned(1, material)
    }

    pub fn versioned(version: u32, material: &KeyMaterial) -> Result<Self, CryptoError> {
        let mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(material.expose())
            .map_err(|_| CryptoError::BadKeyLength)?;
        Ok(Self { version, mac })
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    /// The index of `value` for `table.column`; the caller normalises `value` first (for
    /// example lower-cases an email) so equal values give equal indexes.
    pub fn index(&self, table: &str, column: &str, value: &str) -> Vec<u8> {
        let mut mac = self.mac.clone();
        mac.update(&(table.len() as u32).to_be_bytes());
        mac.update(table.as_bytes());
        mac.update(&(column.len() as u32).to_be_bytes());
        mac.update(column.as_bytes());
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        if self.version == 1 {
            return digest[..BLIND_INDEX_LEN].to_vec();
        }
        let mut index = Vec::with_capacity(VERSIONED_BLIND_INDEX_LEN);
        index.extend_from_slice(&self.version.to_be_bytes());
        index.extend_from_slice(&digest[..BLIND_INDEX_LEN]);
        index
    }
}

impl fmt::Debug for BlindIndexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlindIndexKey(v{}, <redacted>)", self.version)
    }
}

/// A keyed hash for names a store outside the databases must not hold in the clear: the
/// Redis keys of rate-limit buckets (a client's IP, a person's or an API key's id) and the
/// like. Unlike an unkeyed SHA-256, a dump of the store cannot confirm a guessed value
/// without the key, which the store never holds. The key is derived from the key-encryption
/// key's material under a fixed label (HMAC-SHA-256 as the extract-and-expand step of one
/// block), so every replica with the same configuration derives the same key and names the
/// same value alike, and another label gives an unrelated key.
#[derive(Clone)]
pub struct KeyedDigest {
    mac: Hmac<Sha256>,
}

impl KeyedDigest {
    pub fn derive(material: &KeyMaterial, label: &str) -> Result<Self, CryptoError> {
        let mut derive = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(material.expose())
            .map_err(|_| CryptoError::BadKeyLength)?;
        derive.update(b"dexsoftlex-keyed-digest\0");
        derive.update(label.as_bytes());
        let key: Zeroizing<[u8; KEY_LEN]> = Zeroizing::new(derive.finalize().into_bytes().into());
        let mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key.as_ref())
            .map_err(|_| CryptoError::BadKeyLength)?;
        Ok(Self { mac })
    }

    /// The first `bytes` bytes (at most 32) of the HMAC of `value`, as hex.
    pub fn hex(&self, value: &[u8], bytes: usize) -> String {
        let mut mac = self.mac.clone();
        mac.update(value);
        let digest = mac.finalize().into_bytes();
        hex::encode(&digest[..bytes.min(digest.len())])
    }
}

impl fmt::Debug for KeyedDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyedDigest(<redacted>)")
    }
}

/// All unwrapped keys of one tenant: every data-key version it still holds (old versions
/// decrypt, the active one encrypts), and likewise every blind-index key version (the
/// active one indexes what is written; every held one is tried by lookups).
#[derive(Debug)]
pub struct TenantKeyRing {
    tenant: Uuid,
    active: u32,
    data_keys: BTreeMap<u32, DataKey>,
    /// The active index key.
    blind_index: BlindIndexKey,
    /// Retired index keys, held while a re-indexing job has not reached every row.
    retired_blind_indexes: Vec<BlindIndexKey>,
}

impl TenantKeyRing {
    /// `data_keys` must contain `active`.
    pub fn new(
        tenant: Uuid,
        active: u32,
        data_keys: Vec<DataKey>,
        blind_index: BlindIndexKey,
    ) -> Result<Self, CryptoError> {
        let data_keys: BTreeMap<u32, DataKey> =
            data_keys.into_iter().map(|k| (k.version(), k)).collect();
        if !data_keys.contains_key(&active) {
            return Err(CryptoError::UnknownKeyVersion(active));
        }
        Ok(Self {
            tenant,
            active,
            data_keys,
            blind_index,
            retired_blind_indexes: Vec::new(),
        })
    }

    /// Adds retired index-key versions: lookups try them too, nothing is indexed under them.
    pub fn with_retired_index_keys(mut self, keys: Vec<BlindIndexKey>) -> Self {
        self.retired_blind_indexes = keys
            .into_iter()
            .filter(|k| k.version != self.blind_index.version)
            .collect();
        self
    }

    pub fn active_index_version(&self) -> u32 {
        self.blind_index.version
    }

    pub fn tenant(&self) -> Uuid {
        self.tenant
    }

    pub fn active_version(&self) -> u32 {
        self.active
    }

    pub fn versions(&self) -> impl Iterator<Item = u32> + '_ {
        self.data_keys.keys().copied()
    }

    fn aad<'a>(&self, table: &'a str, column: &'a str, row: Uuid) -> Aad<'a> {
        Aad {
            tenant: self.tenant,
            table,
            column,
            row,
        }
    }

    /// Encrypts under the active key version.
    pub fn seal(&self, table: &str, column: &str, row: Uuid, plaintext: &[u8]) -> Vec<u8> {
        // `new` guarantees the active version is present.
        match self.data_keys.get(&self.active) {
            Some(key) => key.seal(&self.aad(table, column, row), plaintext),
            None => Vec::new(),
        }
    }

    pub fn open(
        &self,
        table: &str,
        column: &str,
        row: Uuid,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let version = sealed_key_version(ciphertext)?;
        let key = self
            .data_keys
            .get(&version)
            .ok_or(CryptoError::UnknownKeyVersion(version))?;
        key.open(
            &self.aad(table, column, row),
            &ciphertext[5..HEADER_LEN],
            &ciphertext[HEADER_LEN..],
        )
    }

    pub fn seal_str(&self, table: &str, column: &str, row: Uuid, plaintext: &str) -> Vec<u8> {
        self.seal(table, column, row, plaintext.as_bytes())
    }

    pub fn open_str(
        &self,
        table: &str,
        column: &str,
        row: Uuid,
        ciphertext: &[u8],
    ) -> Result<String, CryptoError> {
        let bytes = self.open(table, column, row, ciphertext)?;
        String::from_utf8(bytes).map_err(|_| CryptoError::Malformed)
    }

    /// The index to store for `value`: under the active index key.
    pub fn blind_index(&self, table: &str, column: &str, value: &str) -> Vec<u8> {
        self.blind_index.index(table, column, value)
    }

    /// Every index `value` may be stored under: one per index-key version held, the active
    /// one first. Lookups and uniqueness checks match any of them, so a row not yet
    /// re-indexed after a rotation is still found.
    pub fn blind_index_candidates(&self, table: &str, column: &str, value: &str) -> Vec<Vec<u8>> {
        std::iter::once(&self.blind_index)
            .chain(&self.retired_blind_indexes)
            .map(|key| key.index(table, column, value))
            .collect()
    }
}

/// Wraps and unwraps tenant keys. The local implementation uses a key from configuration;
/// an external KMS (AWS KMS, GCP KMS, Vault transit) implements the same trait.
#[async_trait::async_trait]
pub trait KeyEncryptionKey: Send + Sync + fmt::Debug {
    /// A stable identifier recorded next to every wrapped key, so a rotation of the KEK
    /// knows which wrapping to undo.
    fn id(&self) -> &str;
    /// `context` binds the wrapped key to its tenant and purpose.
    async fn wrap(&self, key: &KeyMaterial, context: &[u8]) -> Result<Vec<u8>, CryptoError>;
    async fn unwrap(&self, wrapped: &[u8], context: &[u8]) -> Result<KeyMaterial, CryptoError>;
}

/// A key-encryption key held by this process (from a key file or the environment).
pub struct LocalKek {
    id: String,
    cipher: Aes256Gcm,
}

impl LocalKek {
    pub fn new(material: &KeyMaterial) -> Result<Self, CryptoError> {
        let cipher =
            Aes256Gcm::new_from_slice(material.expose()).map_err(|_| CryptoError::BadKeyLength)?;
        // The id is a fingerprint, so two processes with the same key agree on it and a
        // wrong key is recognised before any unwrap is attempted.
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(material.expose())
            .map_err(|_| CryptoError::BadKeyLength)?;
        mac.update(b"dexsoftlex-kek-id");
        let id = format!("local:{}", hex::encode(&mac.finalize().into_bytes()[..8]));
        Ok(Self { id, cipher })
    }

    /// Accepts 64 hex characters or standard base64 of 32 bytes.
    pub fn parse_key_text(text: &str) -> Result<KeyMaterial, CryptoError> {
        use base64::Engine as _;
        let text = text.trim();
        let bytes = hex::decode(text)
            .or_else(|_| base64::engine::general_purpose::STANDARD.decode(text))
            .map_err(|_| CryptoError::BadKeyLength)?;
        let material = KeyMaterial::from_slice(&bytes);
        let mut bytes = bytes;
        zeroize::Zeroize::zeroize(&mut bytes);
        material
    }
}

impl fmt::Debug for LocalKek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LocalKek({})", self.id)
    }
}

#[async_trait::async_trait]
impl KeyEncryptionKey for LocalKek {
    fn id(&self) -> &str {
        &self.id
    }

    async fn wrap(&self, key: &KeyMaterial, context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce_bytes = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce_bytes);
        let body = self
            .cipher
            .encrypt(
                &Nonce::from(nonce_bytes),
                Payload {
                    msg: key.expose(),
                    aad: context,
                },
            )
            .map_err(|_| CryptoError::Malformed)?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&body);
        Ok(out)
    }

    async fn unwrap(&self, wrapped: &[u8], context: &[u8]) -> Result<KeyMaterial, CryptoError> {
        if wrapped.len() <= NONCE_LEN {
            return Err(CryptoError::Malformed);
        }
        let nonce: [u8; NONCE_LEN] = wrapped[..NONCE_LEN]
            .try_into()
            .map_err(|_| CryptoError::Malformed)?;
        let plain = Zeroizing::new(
            self.cipher
                .decrypt(
                    &Nonce::from(nonce),
                    Payload {
                        msg: &wrapped[NONCE_LEN..],
                        aad: context,
                    },
                )
                .map_err(|_| CryptoError::Inauthentic)?,
        );
        KeyMaterial::from_slice(&plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(tenant: Uuid, versions: &[u32], active: u32) -> TenantKeyRing {
        let keys = versions
            .iter()
            .map(|v| DataKey::new(*v, &KeyMaterial::generate()).unwrap())
            .collect();
        let bidx = BlindIndexKey::new(&KeyMaterial::generate()).unwrap();
        TenantKeyRing::new(tenant, active, keys, bidx).unwrap()
    }

    #[test]
    fn promise_d2_sealed_field_opens_only_in_its_own_place() {
        let tenant = Uuid::now_v7();
        let row = Uuid::now_v7();
        let keys = ring(tenant, &[1], 1);
        let sealed = keys.seal_str("contacts", "email", row, "ada@example.edu");
        assert!(!sealed.windows(3).any(|w| w == b"ada"));
        assert_eq!(
            keys.open_str("contacts", "email", row, &sealed).unwrap(),
            "ada@example.edu"
        );
        // Same key, another row, column or table: refused.
        assert_eq!(
            keys.open("contacts", "email", Uuid::now_v7(), &sealed),
            Err(CryptoError::Inauthentic)
        );
        assert_eq!(
            keys.open("contacts", "name", row, &sealed),
            Err(CryptoError::Inauthentic)
        );
        assert_eq!(
            keys.open("people", "email", row, &sealed),
            Err(CryptoError::Inauthentic)
        );
    }

    #[test]
    fn a_keyed_digest_is_the_same_for_the_same_key_and_label_and_no_plain_hash() {
        use sha2::Digest;
        let material = KeyMaterial::generate();
        let a = KeyedDigest::derive(&material, "redis-keys").unwrap();
        let b = KeyedDigest::derive(&material, "redis-keys").unwrap();
        let other = KeyedDigest::derive(&material, "other").unwrap();
        assert_eq!(a.hex(b"ip:192.0.2.1", 16), b.hex(b"ip:192.0.2.1", 16));
        assert_ne!(a.hex(b"ip:192.0.2.1", 16), other.hex(b"ip:192.0.2.1", 16));
        assert_ne!(
            a.hex(b"ip:192.0.2.1", 32),
            hex::encode(Sha256::digest(b"ip:192.0.2.1"))
        );
        assert_eq!(format!("{a:?}"), "KeyedDigest(<redacted>)");
    }

    #[test]
    fn promise_d2_other_tenant_keys_cannot_open() {
        let row = Uuid::now_v7();
        let a = ring(Uuid::now_v7(), &[1], 1);
        let b = ring(Uuid::now_v7(), &[1], 1);
        let sealed = a.seal_str("contacts", "email", row, "x@y.z");
        assert!(b.open("contacts", "email", row, &sealed).is_err());
    }

    #[test]
    fn rotated_ring_reads_old_versions_and_writes_the_new_one() {
        let tenant = Uuid::now_v7();
        let row = Uuid::now_v7();
        let material_v1 = KeyMaterial::generate();
        let bidx = KeyMaterial::generate();
        let old = TenantKeyRing::new(
            tenant,
            1,
            vec![DataKey::new(1, &material_v1).unwrap()],
            BlindIndexKey::new(&bidx).unwrap(),
        )
        .unwrap();
        let sealed_v1 = old.seal_str("t", "c", row, "hello");
        let rotated = TenantKeyRing::new(
            tenant,
            2,
            vec![
                DataKey::new(1, &material_v1).unwrap(),
                DataKey::new(2, &KeyMaterial::generate()).unwrap(),
            ],
            BlindIndexKey::new(&bidx).unwrap(),
        )
        .unwrap();
        assert_eq!(
            rotated.open_str("t", "c", row, &sealed_v1).unwrap(),
            "hello"
        );
        let sealed_v2 = rotated.seal_str("t", "c", row, "hello");
        assert_eq!(sealed_key_version(&sealed_v2).unwrap(), 2);
        assert_eq!(
            old.open("t", "c", row, &sealed_v2),
            Err(CryptoError::UnknownKeyVersion(2))
        );
    }

    /// The associated data spelled out byte by byte, as every stored ciphertext was sealed.
    fn aad_v1(tenant: Uuid, table: &str, column: &str, row: Uuid) -> Vec<u8> {
        let mut aad = b"dxh1".to_vec();
        aad.extend_from_slice(tenant.as_bytes());
        aad.extend_from_slice(row.as_bytes());
        for part in [table, column] {
            aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
        aad
    }

    #[test]
    fn ciphertext_layout_and_associated_data_stay_readable() {
        let material = KeyMaterial::from_slice(&[7u8; KEY_LEN]).unwrap();
        let tenant = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let row = Uuid::from_u128(42);
        let long_table = "t".repeat(200);
        let keys = TenantKeyRing::new(
            tenant,
            3,
            vec![DataKey::new(3, &material).unwrap()],
            BlindIndexKey::new(&KeyMaterial::generate()).unwrap(),
        )
        .unwrap();
        let reference = Aes256Gcm::new_from_slice(material.expose()).unwrap();
        // Short names use the inline encoding, long ones the heap one: both must match.
        for (table, column) in [("contacts", "email"), (long_table.as_str(), "c")] {
            let aad = aad_v1(tenant, table, column, row);
            let nonce = [9u8; NONCE_LEN];
            let body = reference
                .encrypt(
                    &Nonce::from(nonce),
                    Payload {
                        msg: b"ada@example.edu",
                        aad: &aad,
                    },
                )
                .unwrap();
            let mut stored = vec![FORMAT_V1, 0, 0, 0, 3];
            stored.extend_from_slice(&nonce);
            stored.extend_from_slice(&body);
            assert_eq!(
                keys.open_str(table, column, row, &stored).unwrap(),
                "ada@example.edu"
            );

            let sealed = keys.seal_str(table, column, row, "grace@example.edu");
            assert_eq!(
                sealed.len(),
                HEADER_LEN + "grace@example.edu".len() + TAG_LEN
            );
            assert_eq!(&sealed[..5], &[FORMAT_V1, 0, 0, 0, 3]);
            let nonce: [u8; NONCE_LEN] = sealed[5..HEADER_LEN].try_into().unwrap();
            let plain = reference
                .decrypt(
                    &Nonce::from(nonce),
                    Payload {
                        msg: &sealed[HEADER_LEN..],
                        aad: &aad,
                    },
                )
                .unwrap();
            assert_eq!(plain, b"grace@example.edu");
            assert_eq!(
                keys.open(table, "other", row, &sealed),
                Err(CryptoError::Inauthentic)
            );
        }
    }

    #[test]
    fn truncated_or_tampered_ciphertexts_do_not_open() {
        let row = Uuid::now_v7();
        let keys = ring(Uuid::now_v7(), &[1], 1);
        let sealed = keys.seal("t", "c", row, b"");
        assert_eq!(keys.open("t", "c", row, &sealed).unwrap(), b"");
        for len in [0, HEADER_LEN - 1] {
            assert_eq!(
                keys.open("t", "c", row, &sealed[..len]),
                Err(CryptoError::Malformed)
            );
        }
        for len in [HEADER_LEN, HEADER_LEN + TAG_LEN - 1] {
            assert_eq!(
                keys.open("t", "c", row, &sealed[..len]),
                Err(CryptoError::Inauthentic)
            );
        }
        let mut flipped = keys.seal("t", "c", row, b"hello");
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(
            keys.open("t", "c", row, &flipped),
            Err(CryptoError::Inauthentic)
        );
    }

    #[test]
    fn nonces_differ_between_seals_of_the_same_value() {
        let row = Uuid::now_v7();
        let keys = ring(Uuid::now_v7(), &[1], 1);
        let a = keys.seal("t", "c", row, b"same");
        let b = keys.seal("t", "c", row, b"same");
        assert_ne!(a[5..HEADER_LEN], b[5..HEADER_LEN]);
        assert_ne!(a, b);
    }

    #[test]
    fn blind_index_is_deterministic_per_key_and_column() {
        let keys = ring(Uuid::now_v7(), &[1], 1);
        let other = ring(Uuid::now_v7(), &[1], 1);
        let a = keys.blind_index("contacts", "email", "ada@example.edu");
        assert_eq!(a, keys.blind_index("contacts", "email", "ada@example.edu"));
        assert_ne!(a, keys.blind_index("contacts", "phone", "ada@example.edu"));
        assert_ne!(a, other.blind_index("contacts", "email", "ada@example.edu"));
        assert_eq!(a.len(), BLIND_INDEX_LEN);
    }

    #[test]
    fn a_rotated_index_key_indexes_under_its_version_and_lookups_try_the_retired_one() {
        let tenant = Uuid::now_v7();
        let v1 = KeyMaterial::generate();
        let data =
            || vec![DataKey::new(1, &KeyMaterial::from_slice(&[1; KEY_LEN]).unwrap()).unwrap()];
        let old = TenantKeyRing::new(tenant, 1, data(), BlindIndexKey::new(&v1).unwrap()).unwrap();
        let stored_v1 = old.blind_index("people", "email", "ada@example.edu");
        assert_eq!(
            stored_v1.len(),
            BLIND_INDEX_LEN,
            "version 1 keeps the old layout"
        );
        assert_eq!(blind_index_version(&stored_v1), Ok(1));

        let rotated = TenantKeyRing::new(
            tenant,
            1,
            data(),
            BlindIndexKey::versioned(2, &KeyMaterial::generate()).unwrap(),
        )
        .unwrap()
        .with_retired_index_keys(vec![BlindIndexKey::new(&v1).unwrap()]);
        assert_eq!(rotated.active_index_version(), 2);
        let stored_v2 = rotated.blind_index("people", "email", "ada@example.edu");
        assert_eq!(stored_v2.len(), VERSIONED_BLIND_INDEX_LEN);
        assert_eq!(blind_index_version(&stored_v2), Ok(2));
        assert_ne!(stored_v2[4..], stored_v1[..], "a new key, a new index");
        assert_eq!(
            rotated.blind_index_candidates("people", "email", "ada@example.edu"),
            vec![stored_v2.clone(), stored_v1.clone()]
        );
        assert_eq!(blind_index_version(&[0u8; 3]), Err(CryptoError::Malformed));
    }
}
