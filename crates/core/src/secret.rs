//! Secrets in configurations, decided by field: each configuration type names its
//! secret fields ([`Secrets`]), and two functions do the rest — [`masked`] for every
//! reader (API, UI, any scope or role: the value becomes [`MASK`], and of a URL only
//! its password is), and [`restore`] for every writer (a field sent back as the mask
//! keeps the stored secret).
//!
//! A kept secret stays bound to where it was sent: when the configuration's target
//! (a monitor's URL, a channel's endpoint) now points at another origin, a secret
//! still masked is refused by field, so whoever may edit a monitor cannot send its
//! stored credentials to a server of their choosing without knowing them.

use crate::validation::ValidationError;

/// What a secret that is set reads as.
pub const MASK: &str = "********";

/// How a secret field holds its secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// The whole value (a header value, a key, a webhook URL).
    Whole,
    /// The password of a URL (`redis://user:password@host`); the rest is shown.
    UrlPassword,
}

/// A configuration with secret fields.
pub trait Secrets {
    /// Calls `f` with the path, kind and value of each secret field that is set.
    fn visit_secrets(&mut self, f: &mut dyn FnMut(&str, SecretKind, &mut String));

    /// Where the secrets are sent, as `scheme://host:port` (or whatever identifies
    /// it); `None` when there is no such place.
    fn secret_target(&self) -> Option<String>;
}

/// A copy for readers: every secret replaced by [`MASK`].
pub fn masked<T: Secrets + Clone>(config: &T) -> T {
    let mut c = config.clone();
    c.visit_secrets(&mut |_, kind, value| match kind {
        SecretKind::Whole => *value = MASK.to_owned(),
        SecretKind::UrlPassword => *value = mask_url_password(value),
    });
    c
}

/// A copy for a file to publish: every secret replaced by `${NAME}`, the name chosen
/// by `name_for` from the secret's path (of a URL only its password is replaced);
/// returns the names used, in order.
pub fn placeholders<T: Secrets + Clone>(
    config: &T,
    name_for: &mut dyn FnMut(&str) -> String,
) -> (T, Vec<String>) {
    let mut c = config.clone();
    let mut names = Vec::new();
    c.visit_secrets(&mut |path, kind, value| {
        // A URL without a password holds no secret: nothing to name.
        if kind == SecretKind::UrlPassword && url_password(value).is_none() {
            return;
        }
        let name = name_for(path);
        let placeholder = format!("${{{name}}}");
        *value = match kind {
            SecretKind::Whole => placeholder,
            SecretKind::UrlPassword => with_url_password(value, &placeholder),
        };
        names.push(name);
    });
    (c, names)
}

/// Puts the stored secrets of `old` back where `new` holds the mask. Refused by field:
/// a mask with nothing stored at its place, and a kept secret when the target moved.
pub fn restore<T: Secrets + Clone>(new: &mut T, old: &T) -> Result<(), Vec<ValidationError>> {
    let mut stored = Vec::new();
    old.clone().visit_secrets(&mut |path, kind, value| {
        stored.push((path.to_owned(), kind, value.clone()));
    });
    let mut errors = Vec::new();
    let mut kept = Vec::new();
    new.visit_secrets(&mut |path, kind, value| {
        let masked = match kind {
            SecretKind::Whole => value == MASK,
            SecretKind::UrlPassword => url_password(value) == Some(MASK),
        };
        if !masked {
            return;
        }
        let old_value = stored
            .iter()
            .find(|(p, k, _)| p == path && *k == kind)
            .map(|(_, _, v)| v);
        match (kind, old_value) {
            (SecretKind::Whole, Some(v)) => *value = v.clone(),
            (SecretKind::UrlPassword, Some(v)) if url_password(v).is_some() => {
                let password = url_password(v).unwrap_or_default().to_owned();
                *value = with_url_password(value, &password);
            }
            _ => {
                errors.push(ValidationError::new(
                    path,
                    "is the mask of a secret, but none is stored here; type the value",
                ));
                return;
            }
        }
        kept.push(path.to_owned());
    });
    if !kept.is_empty() {
        let (before, after) = (old.secret_target(), new.secret_target());
        if before != after {
            for path in kept {
                errors.push(ValidationError::new(
                    path,
                    format!(
                        "a stored secret is only kept for the place it was given for ({}); \
                         the target is now {}: type the secret again",
                        before.as_deref().unwrap_or("none"),
                        after.as_deref().unwrap_or("none")
                    ),
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The authority of a URL (`user:pw@host:port`) and where it begins, if it has one.
fn authority(url: &str) -> Option<(usize, &str)> {
    let start = url.find("://")? + 3;
    let rest = &url[start..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some((start, &rest[..end]))
}

/// The password written in a URL, if any.
pub fn url_password(url: &str) -> Option<&str> {
    let (_, auth) = authority(url)?;
    let at = auth.rfind('@')?;
    auth[..at].split_once(':').map(|(_, pw)| pw)
}

/// The URL with its password (if it has one) replaced by `password`.
fn with_url_password(url: &str, password: &str) -> String {
    let Some((start, auth)) = authority(url) else {
        return url.to_owned();
    };
    let Some(at) = auth.rfind('@') else {
        return url.to_owned();
    };
    let Some((user, _)) = auth[..at].split_once(':') else {
        return url.to_owned();
    };
    format!("{}{user}:{password}{}", &url[..start], &url[start + at..])
}

/// `redis://user:secret@host` → `redis://user:********@host`; other URLs unchanged.
pub fn mask_url_password(url: &str) -> String {
    with_url_password(url, MASK)
}

/// `scheme://host:port` of a URL, lower case, without user or password: what a
/// secret in it (or sent with it) is bound to. The port is kept as written.
pub fn origin(url: &str) -> Option<String> {
    let (start, auth) = authority(url)?;
    let host = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
    Some(format!("{}{}", &url[..start], host).to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in configuration: a URL with a password, a key, and headers.
    #[derive(Clone, Debug, PartialEq)]
    struct Conf {
        url: String,
        key: Option<String>,
        headers: Vec<(String, String)>,
    }

    impl Secrets for Conf {
        fn visit_secrets(&mut self, f: &mut dyn FnMut(&str, SecretKind, &mut String)) {
            f("url", SecretKind::UrlPassword, &mut self.url);
            if let Some(k) = self.key.as_mut() {
                f("key", SecretKind::Whole, k);
            }
            for (name, value) in &mut self.headers {
                f(&format!("headers.{name}"), SecretKind::Whole, value);
            }
        }
        fn secret_target(&self) -> Option<String> {
            origin(&self.url)
        }
    }

    fn conf() -> Conf {
        Conf {
            url: "redis://app:S3cret@cache:6379/0".into(),
            key: Some("k-123".into()),
            headers: vec![("Authorization".into(), "Bearer t".into())],
        }
    }

    #[test]
    fn placeholders_name_only_the_secrets_that_are_set() {
        let (c, names) = placeholders(
            &Conf {
                url: "https://example.com/p".into(),
                key: Some("k".into()),
                headers: vec![],
            },
            &mut |path| format!("V_{}", path.to_ascii_uppercase()),
        );
        assert_eq!(names, ["V_KEY"]);
        assert_eq!(c.url, "https://example.com/p");
        assert_eq!(c.key.as_deref(), Some("${V_KEY}"));
        let (c, names) = placeholders(&conf(), &mut |path| format!("V_{}", path.len()));
        assert_eq!(c.url, "redis://app:${V_3}@cache:6379/0");
        assert_eq!(names.len(), 3);
    }

    #[test]
    fn readers_see_masks() {
        let m = masked(&conf());
        assert_eq!(m.url, "redis://app:********@cache:6379/0");
        assert_eq!(m.key.as_deref(), Some(MASK));
        assert_eq!(m.headers[0].1, MASK);
        let none = Conf {
            url: "https://example.com/p?q=1".into(),
            key: None,
            headers: vec![],
        };
        assert_eq!(masked(&none), none);
        assert_eq!(mask_url_password("rediss://:pw@h"), "rediss://:********@h");
        assert_eq!(mask_url_password("redis://user@h"), "redis://user@h");
        assert_eq!(mask_url_password("not a url"), "not a url");
    }

    #[test]
    fn masks_sent_back_keep_the_stored_secrets() {
        let old = conf();
        let mut new = masked(&old);
        new.headers.push(("X-New".into(), "typed".into()));
        restore(&mut new, &old).unwrap();
        assert_eq!(new.url, old.url);
        assert_eq!(new.key, old.key);
        assert_eq!(new.headers[0].1, "Bearer t");
        assert_eq!(new.headers[1].1, "typed");
        // Typed values replace; the mask where nothing is stored is refused by field.
        let mut typed = masked(&old);
        typed.key = Some("k-456".into());
        typed.headers = vec![("Cookie".into(), MASK.into())];
        let errs = restore(&mut typed, &old).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "headers.Cookie");
        assert_eq!(typed.key.as_deref(), Some("k-456"));
    }

    #[test]
    fn kept_secrets_stay_with_their_target() {
        let old = conf();
        let mut moved = masked(&old);
        moved.url = "redis://app:********@evil.example:6379/0".into();
        let errs = restore(&mut moved, &old).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["url", "key", "headers.Authorization"]);
        assert!(
            errs[0].message.contains("redis://evil.example:6379"),
            "{}",
            errs[0].message
        );
        assert!(!errs.iter().any(|e| e.message.contains("S3cret")));
        // Typing them all again is fine; so is another path on the same origin.
        let mut retyped = old.clone();
        retyped.url = "redis://app:new@evil.example:6379/0".into();
        restore(&mut retyped, &old).unwrap();
        let mut same = masked(&old);
        same.url = "redis://app:********@CACHE:6379/1".into();
        restore(&mut same, &old).unwrap();
        assert_eq!(same.url, "redis://app:S3cret@CACHE:6379/1");
    }
}
