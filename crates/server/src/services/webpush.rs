//! Message Encryption for Web Push (RFC 8291) in the `aes128gcm` content coding (RFC 8188): what
//! the delivery worker POSTs to a device that registered push keys, so the push provider carries
//! only ciphertext.
//!
//! Per message: a fresh P-256 key pair for the application server and a fresh 16-byte salt; the
//! ECDH secret with the device's `p256dh` key and its `auth` secret give, through HKDF-SHA-256, a
//! content-encryption key and nonce; the event is one AES-128-GCM record of size 4096 ending in
//! the last-record padding delimiter `0x02`, after the header `salt || rs || idlen || keyid` with
//! the server's public key as the key id.
//!
//! The ECDH runs on the `p256` crate rather than ring's `agreement`: ring's ephemeral keys cannot
//! be made from given bytes, and one code path — [`encrypt`], which takes the server's private key
//! and the salt — should be what both the RFC's own example (a fixed key and salt) and every real
//! push (a random key and salt, [`encrypt_for_push`]) run through. HKDF and AES-GCM are ring's.

use civkey_proto::device::{PushAuthSecret, PushPublicKey};
use p256::elliptic_curve::point::AffineCoordinates;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use rand::RngCore;
use ring::{aead, hkdf};
use zeroize::Zeroizing;

/// The record size written in the header (one record holds the whole message).
pub const RECORD_SIZE: u32 = 4096;
/// The header: salt (16), record size (4), key id length (1), the server's public key (65).
pub const HEADER_LEN: usize = 16 + 4 + 1 + PushPublicKey::LEN;
const TAG_LEN: usize = 16;
/// The longest plaintext: push services need accept no more than 4096 bytes of body (RFC 8030
/// section 7.2), and the header, the padding delimiter and the tag take the rest (RFC 8291
/// section 4).
pub const MAX_PLAINTEXT: usize = 4096 - HEADER_LEN - 1 - TAG_LEN;

/// Why a push could not be encrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushCryptoError {
    /// The event is too long for one record in a 4096-byte push.
    #[error("the event is {0} bytes; an encrypted push carries at most {MAX_PLAINTEXT}")]
    TooLong(usize),
    /// The application server's private key is not a P-256 scalar.
    #[error("the application server's key is not a valid P-256 private key")]
    BadServerKey,
    /// HKDF or AES-GCM refused (lengths out of range; not expected).
    #[error("the push could not be encrypted")]
    Crypto,
}

/// HKDF's output length, as ring wants it.
struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-SHA-256 (extract with `salt`, expand with `info`) into `out`.
fn hkdf_sha256(
    salt: &[u8],
    ikm: &[u8],
    info: &[&[u8]],
    out: &mut [u8],
) -> Result<(), PushCryptoError> {
    hkdf::Salt::new(hkdf::HKDF_SHA256, salt)
        .extract(ikm)
        .expand(info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| PushCryptoError::Crypto)
}

/// Encrypts `plaintext` for the device with `ua_public` and `auth`, as the application server
/// whose private key is `as_private` (32 bytes, big-endian), with `salt`: the whole `aes128gcm`
/// body. Deterministic; real pushes go through [`encrypt_for_push`], which picks the key and salt.
pub fn encrypt(
    plaintext: &[u8],
    ua_public: &PushPublicKey,
    auth: &PushAuthSecret,
    as_private: &[u8; 32],
    salt: &[u8; 16],
) -> Result<Vec<u8>, PushCryptoError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(PushCryptoError::TooLong(plaintext.len()));
    }
    let server_key =
        p256::SecretKey::from_slice(as_private).map_err(|_| PushCryptoError::BadServerKey)?;
    let as_public = server_key.public_key().to_encoded_point(false);
    let as_public = as_public.as_bytes();
    // PushPublicKey is checked on the curve when parsed; a failure here is not expected.
    let device_key = p256::PublicKey::from_sec1_bytes(ua_public.as_bytes())
        .map_err(|_| PushCryptoError::Crypto)?;
    let shared = (device_key.to_projective() * *server_key.to_nonzero_scalar()).to_affine();
    let ecdh_secret = Zeroizing::new(<[u8; 32]>::from(shared.x()));

    // RFC 8291 section 3.4: combine the ECDH secret with the device's auth secret…
    let mut ikm = Zeroizing::new([0u8; 32]);
    hkdf_sha256(
        auth.as_bytes(),
        ecdh_secret.as_slice(),
        &[b"WebPush: info\0", ua_public.as_bytes(), as_public],
        ikm.as_mut_slice(),
    )?;
    // …then RFC 8188 section 2.2 and 2.3: the content-encryption key and the nonce.
    let mut cek = Zeroizing::new([0u8; 16]);
    hkdf_sha256(
        salt,
        ikm.as_slice(),
        &[b"Content-Encoding: aes128gcm\0"],
        cek.as_mut_slice(),
    )?;
    let mut nonce = [0u8; 12];
    hkdf_sha256(
        salt,
        ikm.as_slice(),
        &[b"Content-Encoding: nonce\0"],
        &mut nonce,
    )?;

    // One record (sequence number 0, so the nonce as derived), ending in the last-record
    // delimiter 0x02 and no further padding.
    let mut record = Vec::with_capacity(plaintext.len() + 1 + TAG_LEN);
    record.extend_from_slice(plaintext);
    record.push(0x02);
    let key = aead::UnboundKey::new(&aead::AES_128_GCM, cek.as_slice())
        .map_err(|_| PushCryptoError::Crypto)?;
    aead::LessSafeKey::new(key)
        .seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::empty(),
            &mut record,
        )
        .map_err(|_| PushCryptoError::Crypto)?;

    let mut body = Vec::with_capacity(HEADER_LEN + record.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(PushPublicKey::LEN as u8);
    body.extend_from_slice(as_public);
    body.extend_from_slice(&record);
    Ok(body)
}

/// Encrypts one push for the device: a fresh P-256 key pair and a fresh salt, then [`encrypt`].
pub fn encrypt_for_push(
    plaintext: &[u8],
    ua_public: &PushPublicKey,
    auth: &PushAuthSecret,
) -> Result<Vec<u8>, PushCryptoError> {
    let server_key = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let as_private = Zeroizing::new(<[u8; 32]>::from(server_key.to_bytes()));
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    encrypt(plaintext, ua_public, auth, &as_private, &salt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    fn b64(text: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(text).unwrap()
    }

    // RFC 8291 section 5, "Push Message Encryption Example" (and its appendix A).
    const PLAINTEXT: &[u8] = b"When I grow up, I want to be a watermelon";
    const AS_PUBLIC: &str =
        "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
    const AS_PRIVATE: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
    const UA_PUBLIC: &str =
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const UA_PRIVATE: &str = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
    const SALT: &str = "DGv6ra1nlYgDCS1FRnbzlw";
    const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";
    const BODY: &str = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

    fn ua() -> (PushPublicKey, PushAuthSecret) {
        (
            PushPublicKey::parse(UA_PUBLIC).unwrap(),
            PushAuthSecret::parse(AUTH).unwrap(),
        )
    }

    /// The device's side, written from RFC 8291 independently of [`encrypt`]'s structure:
    /// read the header, ECDH with the key id, derive, open the one record, strip the delimiter.
    fn decrypt(body: &[u8], ua_private: &[u8; 32], auth: &PushAuthSecret) -> Vec<u8> {
        let (salt, rest) = body.split_at(16);
        let (rs, rest) = rest.split_at(4);
        assert_eq!(u32::from_be_bytes(rs.try_into().unwrap()), 4096);
        let (idlen, rest) = rest.split_at(1);
        let (keyid, ciphertext) = rest.split_at(usize::from(idlen[0]));
        let ua_key = p256::SecretKey::from_slice(ua_private).unwrap();
        let ua_public = ua_key.public_key().to_encoded_point(false);
        let as_public = p256::PublicKey::from_sec1_bytes(keyid).unwrap();
        let shared = (as_public.to_projective() * *ua_key.to_nonzero_scalar()).to_affine();
        let mut ikm = [0u8; 32];
        hkdf_sha256(
            auth.as_bytes(),
            &shared.x(),
            &[b"WebPush: info\0", ua_public.as_bytes(), keyid],
            &mut ikm,
        )
        .unwrap();
        let (mut cek, mut nonce) = ([0u8; 16], [0u8; 12]);
        hkdf_sha256(salt, &ikm, &[b"Content-Encoding: aes128gcm\0"], &mut cek).unwrap();
        hkdf_sha256(salt, &ikm, &[b"Content-Encoding: nonce\0"], &mut nonce).unwrap();
        let key = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, &cek).unwrap());
        let mut record = ciphertext.to_vec();
        let opened = key
            .open_in_place(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::empty(),
                &mut record,
            )
            .unwrap();
        assert_eq!(opened.last(), Some(&0x02), "last-record delimiter");
        opened[..opened.len() - 1].to_vec()
    }

    #[test]
    fn the_rfc_8291_example_is_reproduced_byte_for_byte() {
        let (ua_public, auth) = ua();
        let as_private: [u8; 32] = b64(AS_PRIVATE).try_into().unwrap();
        let salt: [u8; 16] = b64(SALT).try_into().unwrap();
        let body = encrypt(PLAINTEXT, &ua_public, &auth, &as_private, &salt).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.encode(&body), BODY);
        assert_eq!(&body[21..HEADER_LEN], b64(AS_PUBLIC).as_slice(), "key id");
        let ua_private: [u8; 32] = b64(UA_PRIVATE).try_into().unwrap();
        assert_eq!(decrypt(&b64(BODY), &ua_private, &auth), PLAINTEXT);
    }

    #[test]
    fn each_push_has_its_own_key_and_salt_and_the_device_can_read_it() {
        let device_key = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let device_public: [u8; 65] = device_key
            .public_key()
            .to_encoded_point(false)
            .as_bytes()
            .try_into()
            .unwrap();
        let ua_public = PushPublicKey::from_bytes(device_public).unwrap();
        let auth = PushAuthSecret::from_bytes([7; 16]);
        let event = br#"{"id":1,"at":1000,"type":"login_request"}"#;
        let first = encrypt_for_push(event, &ua_public, &auth).unwrap();
        let second = encrypt_for_push(event, &ua_public, &auth).unwrap();
        assert_ne!(first[..16], second[..16], "fresh salt");
        assert_ne!(
            first[21..HEADER_LEN],
            second[21..HEADER_LEN],
            "fresh server key"
        );
        assert_eq!(first.len(), HEADER_LEN + event.len() + 1 + TAG_LEN);
        let private: [u8; 32] = device_key.to_bytes().into();
        assert_eq!(decrypt(&first, &private, &auth), event);
        assert_eq!(decrypt(&second, &private, &auth), event);
    }

    #[test]
    fn an_event_too_long_for_one_4096_byte_push_is_refused() {
        let (ua_public, auth) = ua();
        let largest = encrypt_for_push(&[b'x'; MAX_PLAINTEXT], &ua_public, &auth).unwrap();
        assert_eq!(largest.len(), 4096);
        assert_eq!(
            encrypt_for_push(&[b'x'; MAX_PLAINTEXT + 1], &ua_public, &auth),
            Err(PushCryptoError::TooLong(MAX_PLAINTEXT + 1))
        );
    }
}
