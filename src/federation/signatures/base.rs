//! `Signature-Input` and `Signature` read as structured fields (RFC 8941), and the signature
//! base a signature covers (RFC 9421 §2.5), shared by verifying and signing.
use axum::http::HeaderMap;
use sfv::{BareItem, Dictionary, FieldType, InnerList, Item, ListEntry, Parameters, Parser};
use url::Url;

use super::{SignatureError, refuse};

// ---------------------------------------------------------------------------------------------
// Structured fields: Signature-Input, Signature
// ---------------------------------------------------------------------------------------------

/// One signature of a message: its covered components and parameters (from `Signature-Input`)
/// and the signature bytes (from `Signature`).
#[derive(Debug, Clone, PartialEq)]
pub struct MessageSignature {
    pub label: String,
    /// The covered component identifiers, in order, each with its parameters.
    pub components: Vec<Item>,
    /// `created`, `expires`, `keyid`, `alg`, `nonce`, `tag`...
    pub params: Parameters,
    pub signature: Vec<u8>,
}

impl MessageSignature {
    fn integer_param(&self, name: &str) -> Result<Option<i64>, SignatureError> {
        match self.params.get(name) {
            None => Ok(None),
            Some(BareItem::Integer(value)) => Ok(Some(i64::from(*value))),
            Some(_) => refuse(format!("parameter {name} is not an integer")),
        }
    }

    fn string_param(&self, name: &str) -> Result<Option<&str>, SignatureError> {
        match self.params.get(name) {
            None => Ok(None),
            Some(BareItem::String(value)) => Ok(Some(value.as_str())),
            Some(_) => refuse(format!("parameter {name} is not a string")),
        }
    }

    pub fn created(&self) -> Result<Option<i64>, SignatureError> {
        self.integer_param("created")
    }

    pub fn expires(&self) -> Result<Option<i64>, SignatureError> {
        self.integer_param("expires")
    }

    pub fn keyid(&self) -> Result<Option<&str>, SignatureError> {
        self.string_param("keyid")
    }

    pub fn alg(&self) -> Result<Option<&str>, SignatureError> {
        self.string_param("alg")
    }

    /// Whether a component is covered as itself (no parameters such as `;req` or `;key`,
    /// which would cover something else).
    pub fn covers(&self, name: &str) -> bool {
        self.components.iter().any(|item| {
            item.params.is_empty()
                && matches!(&item.bare_item, BareItem::String(s) if s.as_str() == name)
        })
    }

    /// The value of `@signature-params` (RFC 9421 §2.3): the inner list of components with
    /// the signature's parameters, serialized as a structured field.
    pub fn signature_params(&self) -> Result<String, SignatureError> {
        let list = vec![ListEntry::InnerList(InnerList::with_params(
            self.components.clone(),
            self.params.clone(),
        ))];
        match list.serialize() {
            Some(serialized) => Ok(serialized),
            None => refuse("signature parameters cannot be serialized"),
        }
    }
}

/// Every instance of a header, joined as RFC 9110 combines field lines, or None.
pub(super) fn combined_field(
    headers: &HeaderMap,
    name: &str,
) -> Result<Option<String>, SignatureError> {
    let mut values = Vec::new();
    for value in headers.get_all(name) {
        match value.to_str() {
            Ok(v) => values.push(v.trim_matches([' ', '\t']).to_owned()),
            Err(_) => return refuse(format!("header {name} is not visible ASCII")),
        }
    }
    Ok((!values.is_empty()).then(|| values.join(", ")))
}

pub(super) fn parse_dictionary(name: &str, value: &str) -> Result<Dictionary, SignatureError> {
    Parser::new(value)
        .parse::<Dictionary>()
        .map_err(|e| SignatureError(format!("header {name} is not a structured dictionary: {e}")))
}

/// Whether a request carries an RFC 9421 signature. Such a request is checked as one even when
/// it also has draft-cavage headers (RFC 9421 is preferred).
pub fn is_rfc9421(headers: &HeaderMap) -> bool {
    headers.contains_key("signature-input")
}

/// The signatures of a request, in `Signature-Input` order. Labels without a matching
/// `Signature` member are skipped; none at all is an error.
pub fn parse_signatures(headers: &HeaderMap) -> Result<Vec<MessageSignature>, SignatureError> {
    let Some(input) = combined_field(headers, "signature-input")? else {
        return refuse("no Signature-Input header");
    };
    let Some(signature) = combined_field(headers, "signature")? else {
        return refuse("no Signature header");
    };
    let inputs = parse_dictionary("Signature-Input", &input)?;
    let signatures = parse_dictionary("Signature", &signature)?;
    let mut found = Vec::new();
    for (label, entry) in inputs {
        let ListEntry::InnerList(list) = entry else {
            return refuse(format!(
                "Signature-Input member {} is not an inner list",
                label.as_str()
            ));
        };
        let bytes = match signatures.get(label.as_str()) {
            None => continue,
            Some(ListEntry::Item(Item {
                bare_item: BareItem::ByteSequence(bytes),
                ..
            })) => bytes.clone(),
            Some(_) => {
                return refuse(format!(
                    "Signature member {} is not a byte sequence",
                    label.as_str()
                ));
            }
        };
        for item in &list.items {
            if !matches!(&item.bare_item, BareItem::String(_)) {
                return refuse("a covered component is not a string");
            }
        }
        found.push(MessageSignature {
            label: label.as_str().to_owned(),
            components: list.items,
            params: list.params,
            signature: bytes,
        });
    }
    if found.is_empty() {
        return refuse("no Signature member matches a Signature-Input member");
    }
    Ok(found)
}

// ---------------------------------------------------------------------------------------------
// The signature base (RFC 9421 §2.5)
// ---------------------------------------------------------------------------------------------

/// What of a request the signature base reads. `target_uri` is the absolute URL the request
/// was sent to (for an inbox: the node's public origin and the request's path and query).
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub target_uri: &'a Url,
    pub headers: &'a HeaderMap,
}

/// `host[:port]`, lowercase, without a default port: `@authority`.
pub(super) fn authority(url: &Url) -> Result<String, SignatureError> {
    let Some(host) = url.host_str() else {
        return refuse("the target URI has no host");
    };
    // `Url` already lowercases host names and drops the scheme's default port.
    Ok(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

fn component_value(request: &SignedRequest, component: &Item) -> Result<String, SignatureError> {
    let BareItem::String(name) = &component.bare_item else {
        return refuse("a covered component is not a string");
    };
    let name = name.as_str();
    if !component.params.is_empty() {
        // `;sf`, `;key`, `;bs`, `;req`, `;tr` and `@query-param;name` are not needed for
        // ActivityPub deliveries; refusing is safer than signing something else.
        return refuse(format!(
            "component {} with parameters is not supported",
            component.serialize()
        ));
    }
    let url = request.target_uri;
    let value = match name {
        "@method" => request.method.to_owned(),
        "@target-uri" => {
            let mut target = url.clone();
            target.set_fragment(None);
            target.to_string()
        }
        "@authority" => authority(url)?,
        "@scheme" => url.scheme().to_ascii_lowercase(),
        "@request-target" => match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        },
        "@path" => url.path().to_owned(),
        "@query" => format!("?{}", url.query().unwrap_or_default()),
        derived if derived.starts_with('@') => {
            return refuse(format!("component {derived} is not supported in a request"));
        }
        field => {
            if field.bytes().any(|b| b.is_ascii_uppercase()) {
                return refuse(format!("component {field} is not lowercase"));
            }
            match combined_field(request.headers, field)? {
                Some(value) => value,
                None => return refuse(format!("covered header {field} is missing")),
            }
        }
    };
    if value.contains(['\r', '\n']) || !value.is_ascii() {
        return refuse(format!(
            "component {name} has a value that cannot be signed"
        ));
    }
    Ok(value)
}

/// The signature base of a request for one signature: one line per covered component, then
/// `"@signature-params"`, joined with LF, no trailing newline (RFC 9421 §2.5).
pub fn signature_base(
    request: &SignedRequest,
    signature: &MessageSignature,
) -> Result<String, SignatureError> {
    let mut lines = Vec::with_capacity(signature.components.len() + 1);
    let mut seen = Vec::with_capacity(signature.components.len());
    for component in &signature.components {
        let identifier = component.serialize();
        if seen.contains(&identifier) {
            return refuse(format!("component {identifier} is covered twice"));
        }
        lines.push(format!(
            "{identifier}: {}",
            component_value(request, component)?
        ));
        seen.push(identifier);
    }
    lines.push(format!(
        "\"@signature-params\": {}",
        signature.signature_params()?
    ));
    Ok(lines.join("\n"))
}
