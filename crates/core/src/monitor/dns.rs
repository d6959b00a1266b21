//! `dns` monitors: ask a resolver (the one given in `resolver`, the system's
//! otherwise) for one record type of one name, and judge the answer — its response
//! code (`expect.rcode`, `NOERROR` by default), the values it must hold
//! (`expect.values`, all of them, or exactly them with `expect.exact`) and its time.
//! Values are compared in one canonical text form per type ([`canonical_value`]); the
//! judging is `crate::assert::evaluate_dns`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::expect::{
    Accepts, ExpectConfig, WarnConfig, refuse_unaccepted, response_time_limit, warn_response_time,
};
use crate::validation::Errors;

/// A `dns` monitor's own fields, as written in the config file or sent to the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// The name asked for, e.g. `example.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// `A`, `AAAA`, `CNAME`, `MX`, `TXT`, `NS`, `SOA` or `CAA`. Default `A`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// The resolver asked, `ip[:port]` (port 53 by default); the system's first
    /// nameserver (`/etc/resolv.conf`) otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<ExpectConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<WarnConfig>,
}

/// What a `dns` monitor takes of `expect` and `warn`.
const ACCEPTS: Accepts = Accepts {
    expect: &["values", "exact", "rcode", "response_time"],
    warn: &["response_time"],
};

/// The record types a `dns` monitor may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsRecord {
    A,
    Aaaa,
    Cname,
    Mx,
    Txt,
    Ns,
    Soa,
    Caa,
}

impl DnsRecord {
    pub const ALL: [DnsRecord; 8] = [
        DnsRecord::A,
        DnsRecord::Aaaa,
        DnsRecord::Cname,
        DnsRecord::Mx,
        DnsRecord::Txt,
        DnsRecord::Ns,
        DnsRecord::Soa,
        DnsRecord::Caa,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DnsRecord::A => "A",
            DnsRecord::Aaaa => "AAAA",
            DnsRecord::Cname => "CNAME",
            DnsRecord::Mx => "MX",
            DnsRecord::Txt => "TXT",
            DnsRecord::Ns => "NS",
            DnsRecord::Soa => "SOA",
            DnsRecord::Caa => "CAA",
        }
    }
}

/// The response codes an answer may be expected to have.
pub const RCODES: [&str; 6] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
];

/// A validated `dns` monitor.
#[derive(Debug, Clone)]
pub struct DnsSpec {
    /// The name, without a trailing dot.
    pub query: String,
    pub record: DnsRecord,
    /// `None`: the system's resolver.
    pub resolver: Option<SocketAddr>,
    /// Canonical values the answer must hold.
    pub values: Vec<String>,
    pub exact: bool,
    /// Upper case, one of [`RCODES`].
    pub rcode: String,
    pub response_time: Option<Duration>,
    pub warn_response_time: Option<Duration>,
}

/// The canonical text of a record value, as answers and expectations are compared:
/// addresses in their standard form; names in lower case without the final dot; MX
/// as `preference exchange`; CAA as `flags tag value` without quotes; SOA as its seven
/// fields; TXT as written. Whitespace runs become one space. `Err` names what is
/// wrong with an expected value.
pub fn canonical_value(record: DnsRecord, raw: &str) -> Result<String, String> {
    let words: Vec<&str> = raw.split_whitespace().collect();
    let name = |w: &str| w.trim_end_matches('.').to_ascii_lowercase();
    match record {
        DnsRecord::A | DnsRecord::Aaaa => {
            let ip: IpAddr = raw
                .trim()
                .parse()
                .map_err(|_| format!("{raw:?} is not an IP address"))?;
            match (record, ip) {
                (DnsRecord::A, IpAddr::V4(_)) | (DnsRecord::Aaaa, IpAddr::V6(_)) => {
                    Ok(ip.to_string())
                }
                _ => Err(format!("{raw:?} is not an {} address", record.as_str())),
            }
        }
        DnsRecord::Cname | DnsRecord::Ns => match words.as_slice() {
            [w] => Ok(name(w)),
            _ => Err(format!("{raw:?} must be one host name")),
        },
        DnsRecord::Mx => match words.as_slice() {
            [pref, host] if pref.parse::<u16>().is_ok() => Ok(format!("{pref} {}", name(host))),
            _ => Err(format!(
                "{raw:?} must be a preference and a host, as in \"10 mail.example.com\""
            )),
        },
        DnsRecord::Caa => match words.as_slice() {
            [flags, tag, value @ ..] if flags.parse::<u8>().is_ok() && !value.is_empty() => {
                Ok(format!(
                    "{flags} {} {}",
                    tag.to_ascii_lowercase(),
                    value.join(" ").trim_matches('"')
                ))
            }
            _ => Err(format!(
                "{raw:?} must be flags, tag and value, as in \"0 issue letsencrypt.org\""
            )),
        },
        DnsRecord::Soa => match words.as_slice() {
            [mname, rname, numbers @ ..]
                if numbers.len() == 5 && numbers.iter().all(|n| n.parse::<u32>().is_ok()) =>
            {
                Ok(format!(
                    "{} {} {}",
                    name(mname),
                    name(rname),
                    numbers.join(" ")
                ))
            }
            _ => Err(format!(
                "{raw:?} must be the seven SOA fields: mname rname serial refresh retry expire minimum"
            )),
        },
        DnsRecord::Txt => Ok(words.join(" ")),
    }
}

/// Parses a resolver address: `ip`, `ip:port` or `[v6]:port`.
fn parse_resolver(raw: &str) -> Result<SocketAddr, String> {
    let raw = raw.trim();
    if let Ok(ip) = raw
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Ok(SocketAddr::new(ip, 53));
    }
    raw.parse::<SocketAddr>().map_err(|_| {
        format!("{raw:?} must be an IP address with an optional port, as in 1.1.1.1 or [2606:4700::1111]:53")
    })
}

impl DnsConfig {
    /// Validates the fields into a [`DnsSpec`], or records every problem in `errs`.
    pub(crate) fn build(&self, errs: &mut Errors) -> Option<DnsSpec> {
        refuse_unaccepted(
            self.expect.as_ref(),
            self.warn.as_ref(),
            &ACCEPTS,
            "dns",
            errs,
        );
        let query = match self.query.as_deref().map(str::trim) {
            None | Some("") => {
                errs.push("query", "is required for dns monitors: the name to ask for");
                None
            }
            Some(q)
                if q.len() > 253
                    || q.contains("://")
                    || q.chars()
                        .any(|c| c.is_whitespace() || c.is_control() || c == '/')
                    || q.trim_end_matches('.')
                        .split('.')
                        .any(|l| l.is_empty() || l.len() > 63) =>
            {
                errs.push(
                    "query",
                    "must be a domain name such as example.com (labels of 1-63 characters, 253 in all)",
                );
                None
            }
            Some(q) => Some(q.trim_end_matches('.').to_ascii_lowercase()),
        };
        let record = match self.record.as_deref().map(str::trim) {
            None => Some(DnsRecord::A),
            Some(r) => {
                let found = DnsRecord::ALL
                    .into_iter()
                    .find(|k| k.as_str().eq_ignore_ascii_case(r));
                if found.is_none() {
                    errs.push(
                        "record",
                        format!("{r:?} must be one of A, AAAA, CNAME, MX, TXT, NS, SOA, CAA"),
                    );
                }
                found
            }
        };
        let resolver = match self.resolver.as_deref() {
            None => None,
            Some(r) => match parse_resolver(r) {
                Ok(a) if a.port() == 0 => {
                    errs.push("resolver", "the port must be between 1 and 65535");
                    None
                }
                Ok(a) => Some(a),
                Err(m) => {
                    errs.push("resolver", m);
                    None
                }
            },
        };
        let e = self.expect.clone().unwrap_or_default();
        let mut values = Vec::new();
        if let (Some(list), Some(record)) = (&e.values, record) {
            if list.is_empty() {
                errs.push("expect.values", "must list at least one value when given");
            }
            for (i, v) in list.iter().enumerate() {
                match canonical_value(record, v) {
                    Ok(c) => values.push(c),
                    Err(m) => errs.push(format!("expect.values[{i}]"), m),
                }
            }
        }
        if e.exact.is_some() && e.values.is_none() {
            errs.push(
                "expect.exact",
                "needs expect.values: the values the answer must hold exactly",
            );
        }
        let rcode = match e.rcode.as_deref().map(str::trim) {
            None => "NOERROR".to_owned(),
            Some(r) if RCODES.iter().any(|c| c.eq_ignore_ascii_case(r)) => r.to_ascii_uppercase(),
            Some(r) => {
                errs.push(
                    "expect.rcode",
                    format!("{r:?} must be one of {}", RCODES.join(", ")),
                );
                "NOERROR".to_owned()
            }
        };
        if rcode != "NOERROR" && !values.is_empty() {
            errs.push(
                "expect.values",
                format!("an answer with {rcode} holds no records: expect values with NOERROR only"),
            );
        }
        let response_time = response_time_limit(self.expect.as_ref(), errs);
        let warn_response_time = warn_response_time(self.warn.as_ref(), errs, response_time);
        Some(DnsSpec {
            query: query?,
            record: record?,
            resolver,
            values,
            exact: e.exact.unwrap_or(false),
            rcode,
            response_time,
            warn_response_time,
        })
    }
}
