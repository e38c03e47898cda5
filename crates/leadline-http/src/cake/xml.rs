//! CAKE's XML: answers written as documents, SOAP 1.1/1.2 envelopes and faults, and the SOAP
//! request reader. The reader takes no DTD (a DOCTYPE is refused, so no entity can be declared or
//! expanded), matches elements on local names whatever their prefix, and bounds what it keeps.

use quick_xml::escape::escape;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

use super::{Fields, Node};

pub const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// Most parameters one operation element may carry.
const MAX_PARAMS: usize = 64;
/// Deepest nesting accepted anywhere in an envelope (headers included).
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoapVersion {
    V11,
    V12,
}

impl SoapVersion {
    pub fn namespace(self) -> &'static str {
        match self {
            SoapVersion::V11 => SOAP11_NS,
            SoapVersion::V12 => SOAP12_NS,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            SoapVersion::V11 => "text/xml; charset=utf-8",
            SoapVersion::V12 => "application/soap+xml; charset=utf-8",
        }
    }
}

/// Writes fields as elements, escaping text.
pub fn write_fields(out: &mut String, fields: &Fields) {
    for (name, node) in fields {
        out.push('<');
        out.push_str(name);
        out.push('>');
        match node {
            Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Node::Int(n) => out.push_str(&n.to_string()),
            Node::Text(t) => out.push_str(&escape(t.as_str())),
            Node::List { item, rows } => {
                for row in rows {
                    out.push('<');
                    out.push_str(item);
                    out.push('>');
                    write_fields(out, row);
                    out.push_str("</");
                    out.push_str(item);
                    out.push('>');
                }
            }
        }
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    }
}

/// An answer as a plain XML document (the GET and form POST transports).
pub fn document(root: &str, namespace: &str, fields: &Fields) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<");
    out.push_str(root);
    out.push_str(" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns=\"");
    out.push_str(namespace);
    out.push_str("\">");
    write_fields(&mut out, fields);
    out.push_str("</");
    out.push_str(root);
    out.push('>');
    out
}

fn envelope_open(version: SoapVersion) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<soap:Envelope xmlns:soap=\"{}\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"><soap:Body>",
        version.namespace()
    )
}

const ENVELOPE_CLOSE: &str = "</soap:Body></soap:Envelope>";

/// An answer inside a SOAP envelope: `<{Op}Response><{Op}Result>…`.
pub fn soap_answer(version: SoapVersion, operation: &str, namespace: &str, fields: &Fields) -> String {
    let mut out = envelope_open(version);
    out.push_str(&format!("<{operation}Response xmlns=\"{namespace}\"><{operation}Result>"));
    write_fields(&mut out, fields);
    out.push_str(&format!("</{operation}Result></{operation}Response>"));
    out.push_str(ENVELOPE_CLOSE);
    out
}

/// Who a fault blames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultCode {
    /// The request was wrong (SOAP 1.1 `Client`, 1.2 `Sender`).
    Client,
    /// The envelope is not of the SOAP version the content type names.
    VersionMismatch,
    /// The server failed (SOAP 1.1 `Server`, 1.2 `Receiver`).
    Server,
}

/// A SOAP fault in the request's SOAP version.
pub fn fault(version: SoapVersion, code: FaultCode, reason: &str) -> String {
    let mut out = envelope_open(version);
    let reason = escape(reason);
    match version {
        SoapVersion::V11 => {
            let code = match code {
                FaultCode::Client => "soap:Client",
                FaultCode::VersionMismatch => "soap:VersionMismatch",
                FaultCode::Server => "soap:Server",
            };
            out.push_str(&format!(
                "<soap:Fault><faultcode>{code}</faultcode><faultstring>{reason}</faultstring></soap:Fault>"
            ));
        }
        SoapVersion::V12 => {
            let code = match code {
                FaultCode::Client => "soap:Sender",
                FaultCode::VersionMismatch => "soap:VersionMismatch",
                FaultCode::Server => "soap:Receiver",
            };
            out.push_str(&format!(
                "<soap:Fault><soap:Code><soap:Value>{code}</soap:Value></soap:Code><soap:Reason><soap:Text xml:lang=\"en\">{reason}</soap:Text></soap:Reason></soap:Fault>"
            ));
        }
    }
    out.push_str(ENVELOPE_CLOSE);
    out
}

/// A SOAP request read from its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapRequest {
    pub version: SoapVersion,
    /// The operation element's local name.
    pub operation: String,
    /// Parameter local name → text; `None` for an empty or `xsi:nil` element.
    pub params: Vec<(String, Option<String>)>,
}

/// Why an envelope could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapError {
    pub code: FaultCode,
    pub reason: String,
}

fn client(reason: impl Into<String>) -> SoapError {
    SoapError { code: FaultCode::Client, reason: reason.into() }
}

#[derive(PartialEq)]
enum Place {
    Prolog,
    Envelope,
    Header,
    Body,
    Operation,
    Param,
    AfterBody,
    Done,
}

/// Reads a SOAP envelope. `expected` is the version the content type named, if any.
pub fn read_soap(body: &[u8], expected: Option<SoapVersion>) -> Result<SoapRequest, SoapError> {
    let mut reader = NsReader::from_reader(body);
    reader.config_mut().trim_text(true);
    reader.config_mut().expand_empty_elements = true;
    let mut place = Place::Prolog;
    let mut version = None;
    let mut operation = None;
    let mut params: Vec<(String, Option<String>)> = Vec::new();
    let mut header_depth = 0usize;
    let mut current: Option<(String, bool, String)> = None; // param name, nil, text
    let mut buf = Vec::new();
    loop {
        let (ns, event) = reader
            .read_resolved_event_into(&mut buf)
            .map_err(|e| client(format!("the envelope is not well-formed XML: {e}")))?;
        let ns_uri = match &ns {
            ResolveResult::Bound(n) => Some(String::from_utf8_lossy(n.as_ref()).into_owned()),
            _ => None,
        };
        match event {
            Event::DocType(_) => return Err(client("a DOCTYPE is not allowed in a SOAP message")),
            Event::Decl(_) | Event::Comment(_) => {}
            Event::PI(_) => return Err(client("processing instructions are not allowed in a SOAP message")),
            Event::Eof => {
                if place != Place::Done {
                    return Err(client("the envelope ends before it is complete"));
                }
                break;
            }
            Event::Start(e) => {
                let local = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                match place {
                    Place::Prolog => {
                        if local != "Envelope" {
                            return Err(client(format!("the root element is `{local}`, not a SOAP Envelope")));
                        }
                        let found = match ns_uri.as_deref() {
                            Some(SOAP11_NS) => SoapVersion::V11,
                            Some(SOAP12_NS) => SoapVersion::V12,
                            _ => {
                                return Err(SoapError {
                                    code: FaultCode::VersionMismatch,
                                    reason: "the Envelope is in neither the SOAP 1.1 nor the SOAP 1.2 namespace".into(),
                                })
                            }
                        };
                        if expected.is_some_and(|v| v != found) {
                            return Err(SoapError {
                                code: FaultCode::VersionMismatch,
                                reason: "the envelope's SOAP version does not match the Content-Type".into(),
                            });
                        }
                        version = Some(found);
                        place = Place::Envelope;
                    }
                    Place::Envelope | Place::AfterBody => {
                        let soap_ns = version.map(SoapVersion::namespace);
                        if ns_uri.as_deref() != soap_ns {
                            return Err(client(format!("`{local}` inside the Envelope is not in the SOAP namespace")));
                        }
                        match (local.as_str(), &place) {
                            ("Header", Place::Envelope) => {
                                place = Place::Header;
                                header_depth = 1;
                            }
                            ("Body", Place::Envelope) => place = Place::Body,
                            _ => return Err(client(format!("unexpected `{local}` in the Envelope"))),
                        }
                    }
                    Place::Header => {
                        header_depth += 1;
                        if header_depth > MAX_DEPTH {
                            return Err(client("the SOAP header is nested too deeply"));
                        }
                    }
                    Place::Body => {
                        if operation.is_some() {
                            return Err(client("the Body holds more than one operation"));
                        }
                        operation = Some(local);
                        place = Place::Operation;
                    }
                    Place::Operation => {
                        if params.len() >= MAX_PARAMS {
                            return Err(client(format!("more than {MAX_PARAMS} parameters")));
                        }
                        if params.iter().any(|(n, _)| *n == local) {
                            return Err(client(format!("parameter `{local}` is given more than once")));
                        }
                        let mut nil = false;
                        for attribute in e.attributes() {
                            let attribute = attribute.map_err(|e| client(format!("a malformed attribute: {e}")))?;
                            let (attr_ns, attr_local) = reader.resolve_attribute(attribute.key);
                            let is_xsi = matches!(attr_ns, ResolveResult::Bound(n) if n.as_ref() == XSI_NS.as_bytes());
                            if is_xsi && attr_local.as_ref() == b"nil" {
                                nil = matches!(attribute.value.as_ref(), b"true" | b"1");
                            }
                        }
                        current = Some((local, nil, String::new()));
                        place = Place::Param;
                    }
                    Place::Param => {
                        let name = current.as_ref().map(|c| c.0.clone()).unwrap_or_default();
                        return Err(client(format!("parameter `{name}` holds an element; it must hold text")));
                    }
                    Place::Done => return Err(client("content after the Envelope")),
                }
            }
            Event::End(_) => match place {
                Place::Header => {
                    header_depth -= 1;
                    if header_depth == 0 {
                        place = Place::Envelope;
                    }
                }
                Place::Param => {
                    let Some((name, nil, text)) = current.take() else {
                        return Err(client("an unexpected closing tag"));
                    };
                    params.push((name, if nil || text.is_empty() { None } else { Some(text) }));
                    place = Place::Operation;
                }
                Place::Operation => place = Place::Body,
                Place::Body => {
                    if operation.is_none() {
                        return Err(client("the Body holds no operation"));
                    }
                    place = Place::AfterBody;
                }
                Place::Envelope | Place::AfterBody => {
                    if operation.is_none() {
                        return Err(client("the Envelope has no Body"));
                    }
                    place = Place::Done;
                }
                Place::Prolog | Place::Done => return Err(client("an unexpected closing tag")),
            },
            Event::Text(t) => {
                let text = t.unescape().map_err(|_| {
                    client("text holds an entity other than XML's predefined ones, or a malformed character reference")
                })?;
                match (&place, current.as_mut()) {
                    (Place::Param, Some((_, _, value))) => value.push_str(&text),
                    (Place::Header, _) => {}
                    _ => return Err(client("text where the envelope allows only elements")),
                }
            }
            Event::CData(t) => match (&place, current.as_mut()) {
                (Place::Param, Some((_, _, value))) => value.push_str(&String::from_utf8_lossy(&t)),
                (Place::Header, _) => {}
                _ => return Err(client("character data where the envelope allows only elements")),
            },
            Event::Empty(_) => return Err(client("an element the reader could not expand")),
        }
        buf.clear();
    }
    let (Some(version), Some(operation)) = (version, operation) else {
        return Err(client("the Envelope has no Body"));
    };
    Ok(SoapRequest { version, operation, params })
}
