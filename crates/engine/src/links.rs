//! Signed, expiring acknowledge links: the one action that works without a login.
//!
//! A link is `{public_url}/ack/{incident}?exp={unix seconds}&sig={hex}` where `sig` is
//! HMAC-SHA256 over `ack:{incident}:{exp}` with a server secret: it binds the incident
//! and the action, and stops working at `exp`. The engine signs links into the
//! notifications it queues; the HTTP front verifies them (its `/ack/{incident}` page).

use hmac::{Hmac, Mac};
use jiff::Timestamp;
use sha2::Sha256;
use uuid::Uuid;

use std::time::Duration;

type HmacSha256 = Hmac<Sha256>;
fn mac(secret: &[u8], incident: Uuid, exp: i64) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    m.update(format!("ack:{incident}:{exp}").as_bytes());
    m
}

/// The signature of an acknowledge link.
pub fn sign(secret: &[u8], incident: Uuid, exp: i64) -> String {
    hex::encode(mac(secret, incident, exp).finalize().into_bytes())
}

/// Makes the links notifications carry: pages of the web UI under `public_url`, and
/// signed acknowledge links.
#[derive(Clone)]
pub struct LinkSigner {
    /// Base URL, without a trailing slash.
    pub public_url: String,
    /// Secret for signed acknowledge links.
    pub secret: Vec<u8>,
    /// How long a signed acknowledge link works.
    pub ttl: Duration,
}

impl LinkSigner {
    /// A signed acknowledge link valid for `ttl` from `now`.
    pub fn ack_url(&self, incident: Uuid, now: Timestamp) -> String {
        let exp = now.as_second() + i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        format!(
            "{}/ack/{incident}?exp={exp}&sig={}",
            self.public_url,
            sign(&self.secret, incident, exp)
        )
    }
}

/// Checks a link's signature (in constant time) and expiry.
pub fn verify(
    secret: &[u8],
    incident: Uuid,
    exp: i64,
    sig: &str,
    now: Timestamp,
) -> Result<(), &'static str> {
    let bytes = hex::decode(sig).map_err(|_| "the link is damaged")?;
    mac(secret, incident, exp)
        .verify_slice(&bytes)
        .map_err(|_| "the link is not valid")?;
    if now.as_second() > exp {
        return Err("the link has expired; acknowledge from the API or the UI instead");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_bind_incident_action_and_expiry() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let i = Uuid::now_v7();
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let exp = now.as_second() + 60;
        let sig = sign(secret, i, exp);
        assert_eq!(verify(secret, i, exp, &sig, now), Ok(()));
        assert!(
            verify(secret, Uuid::now_v7(), exp, &sig, now).is_err(),
            "another incident"
        );
        assert!(
            verify(secret, i, exp + 1, &sig, now).is_err(),
            "another expiry"
        );
        assert!(verify(b"another secret..................", i, exp, &sig, now).is_err());
        assert!(verify(secret, i, exp, "zz", now).is_err());
        let later = Timestamp::from_second(exp + 1).unwrap();
        assert_eq!(
            verify(secret, i, exp, &sig, later),
            Err("the link has expired; acknowledge from the API or the UI instead")
        );
    }
}
