//! Credentials: API tokens and passwords.
//!
//! API tokens are 256 random bits shown once and stored as their SHA-256 digest (a
//! fast hash is right for high-entropy secrets: there is nothing to brute-force).
//! Passwords are hashed with Argon2id.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of every API token, so that leaked tokens are easy to recognise and scan for.
pub const TOKEN_PREFIX: &str = "vgm_";

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Read everything the API shows.
    Read,
    /// Read and change monitors and settings.
    Write,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }

    /// Whether a token of this scope may do what `needed` requires.
    pub fn allows(self, needed: Scope) -> bool {
        self >= needed
    }
}

/// A new random token (prefix + 64 hex digits).
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// The digest under which a token is stored and looked up.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Why a password was refused.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be at least 10 characters")]
    TooShort,
    #[error("password must be at most 1024 characters")]
    TooLong,
    #[error("could not hash password: {0}")]
    Hash(String),
}

/// Hashes a password with Argon2id and a random salt (PHC string format).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < 10 {
        return Err(PasswordError::TooShort);
    }
    if password.len() > 1024 {
        return Err(PasswordError::TooLong);
    }
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Checks a password against a stored hash; a malformed hash never verifies.
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Whether a user of `role` may hold a token of `scope` (`read`, `write`, `agent`):
/// viewers only read; editors, admins and owners may hold any.
pub fn role_allows(role: &str, scope: &str) -> bool {
    match role {
        "owner" | "admin" | "editor" => matches!(scope, "read" | "write" | "agent"),
        "viewer" => scope == "read",
        _ => false,
    }
}

/// The scope a token acts with now: its own, narrowed to what its user's role allows
/// today (a write token of a user since made viewer reads only). Service tokens (no
/// user) act with their own. `None`: the token may not act at all.
pub fn effective_scope(token: &vigilmon_store::TokenRecord) -> Option<&str> {
    match &token.owner {
        None => Some(token.scope.as_str()),
        Some(o) if role_allows(&o.role, &token.scope) => Some(token.scope.as_str()),
        Some(o) if role_allows(&o.role, "read") && token.scope == "write" => Some("read"),
        Some(_) => None,
    }
}

/// Whether a user of `role` manages every token; others manage only their own.
pub fn manages_all_tokens(role: &str) -> bool {
    matches!(role, "owner" | "admin")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hash_stably() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 64);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
    }

    #[test]
    fn passwords_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong horse battery", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(matches!(
            hash_password("short"),
            Err(PasswordError::TooShort)
        ));
    }

    #[test]
    fn scopes() {
        assert!(Scope::Write.allows(Scope::Read));
        assert!(!Scope::Read.allows(Scope::Write));
        assert_eq!(Scope::parse("write"), Some(Scope::Write));
        assert_eq!(Scope::parse("admin"), None);
    }

    #[test]
    fn a_token_never_does_more_than_its_user_may_now() {
        use vigilmon_store::{TokenOwner, TokenRecord};
        let token = |scope: &str, role: Option<&str>| TokenRecord {
            id: uuid::Uuid::nil(),
            name: "t".into(),
            scope: scope.into(),
            region: None,
            created_at: jiff::Timestamp::UNIX_EPOCH,
            last_used_at: None,
            revoked_at: None,
            owner: role.map(|r| TokenOwner {
                id: uuid::Uuid::nil(),
                email: "u@example.com".into(),
                role: r.into(),
            }),
        };
        assert_eq!(effective_scope(&token("write", None)), Some("write"));
        assert_eq!(effective_scope(&token("agent", None)), Some("agent"));
        assert_eq!(
            effective_scope(&token("write", Some("editor"))),
            Some("write")
        );
        assert_eq!(
            effective_scope(&token("write", Some("viewer"))),
            Some("read")
        );
        assert_eq!(effective_scope(&token("agent", Some("viewer"))), None);
        assert_eq!(
            effective_scope(&token("read", Some("viewer"))),
            Some("read")
        );
        assert_eq!(effective_scope(&token("write", Some("nobody"))), None);
        assert!(manages_all_tokens("admin") && !manages_all_tokens("editor"));
    }
}
