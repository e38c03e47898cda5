//! What a GET on a service path shows: `?WSDL` (the service description SOAP toolkits generate
//! clients from), `?op=<Op>` (one operation's page) and, bare, the list of operations. All of it
//! is generated from the service's table, so a new operation appears here by itself.

use axum::extract::RawQuery;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use quick_xml::escape::escape;

use super::{Kind, Operation, ResultType, Service, API_KEY};

fn html(status: StatusCode, title: &str, body: &str) -> Response {
    let page = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head><body>{body}</body></html>",
        escape(title)
    );
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

pub async fn service_page(service: &'static Service, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let pairs = super::parse_form(query.unwrap_or_default().as_bytes());
    if pairs.iter().any(|(k, _)| k.eq_ignore_ascii_case("wsdl")) {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
        let body = wsdl(service, &format!("http://{host}{}", service.path));
        return (StatusCode::OK, [(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response();
    }
    if let Some((_, Some(name))) = pairs.iter().find(|(k, _)| k.eq_ignore_ascii_case("op")) {
        return match service.operation(name) {
            Some(operation) => operation_page(service, operation),
            None => html(
                StatusCode::NOT_FOUND,
                "No such operation",
                &format!(
                    "<p>{} has no operation {}; it has {}.</p>",
                    escape(service.path),
                    escape(name.as_str()),
                    escape(service.names())
                ),
            ),
        };
    }
    let mut body = format!("<h1>{}</h1><p>Operations:</p><ul>", escape(service.path));
    for operation in service.operations {
        body.push_str(&format!(
            "<li><a href=\"{path}?op={name}\">{name}</a>: {doc}</li>",
            path = escape(service.path),
            name = operation.name,
            doc = escape(operation.doc)
        ));
    }
    body.push_str(&format!("</ul><p><a href=\"{}?WSDL\">Service description (WSDL)</a></p>", escape(service.path)));
    html(StatusCode::OK, service.path, &body)
}

fn operation_page(service: &Service, operation: &Operation) -> Response {
    let mut body = format!(
        "<h1>{}</h1><p>{}</p><h2>Parameters</h2><table><tr><th>name</th><th>type</th><th>meaning</th></tr>",
        operation.name,
        escape(operation.doc)
    );
    for param in std::iter::once(&API_KEY).chain(operation.params) {
        let kind = match param.kind {
            Kind::Text => "string",
            Kind::Int => "int",
        };
        body.push_str(&format!("<tr><td>{}</td><td>{kind}</td><td>{}</td></tr>", param.name, escape(param.doc)));
    }
    body.push_str("</table><p>Every parameter may be sent empty or left out; both mean null.</p>");
    body.push_str(&format!(
        "<h2>HTTP GET</h2><pre>GET {path}/{name}?{query}</pre><h2>SOAP 1.1</h2><pre>POST {path}\nContent-Type: text/xml; charset=utf-8\nSOAPAction: \"{ns}{name}\"</pre><h2>SOAP 1.2</h2><pre>POST {path}\nContent-Type: application/soap+xml; charset=utf-8</pre>",
        path = escape(service.path),
        name = operation.name,
        ns = escape(service.namespace),
        query = std::iter::once(&API_KEY).chain(operation.params).map(|p| format!("{}=", p.name)).collect::<Vec<_>>().join("&amp;"),
    ));
    html(StatusCode::OK, operation.name, &body)
}

fn schema_type(ty: &ResultType) -> &'static str {
    match ty {
        ResultType::Bool => "s:boolean",
        ResultType::Int => "s:int",
        ResultType::Text => "s:string",
        ResultType::List { .. } => "",
    }
}

fn result_elements(out: &mut String, fields: &[(&str, ResultType)]) {
    out.push_str("<s:sequence>");
    for (name, ty) in fields {
        match ty {
            ResultType::List { item, fields } => {
                out.push_str(&format!("<s:element minOccurs=\"0\" maxOccurs=\"1\" name=\"{name}\"><s:complexType><s:sequence><s:element minOccurs=\"0\" maxOccurs=\"unbounded\" name=\"{item}\"><s:complexType>"));
                result_elements(out, fields);
                out.push_str("</s:complexType></s:element></s:sequence></s:complexType></s:element>");
            }
            simple => out.push_str(&format!(
                "<s:element minOccurs=\"0\" maxOccurs=\"1\" name=\"{name}\" type=\"{}\"/>",
                schema_type(simple)
            )),
        }
    }
    out.push_str("</s:sequence>");
}

/// The WSDL 1.1 description of a service: document/literal, SOAP 1.1 and 1.2 bindings.
pub fn wsdl(service: &Service, location: &str) -> String {
    let ns = service.namespace;
    let port = format!("{}Soap", service.name);
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<wsdl:definitions xmlns:wsdl=\"http://schemas.xmlsoap.org/wsdl/\" xmlns:soap=\"http://schemas.xmlsoap.org/wsdl/soap/\" xmlns:soap12=\"http://schemas.xmlsoap.org/wsdl/soap12/\" xmlns:s=\"http://www.w3.org/2001/XMLSchema\" xmlns:tns=\"{ns}\" targetNamespace=\"{ns}\"><wsdl:types><s:schema elementFormDefault=\"qualified\" targetNamespace=\"{ns}\">"
    );
    for op in service.operations {
        out.push_str(&format!("<s:element name=\"{}\"><s:complexType><s:sequence>", op.name));
        for param in std::iter::once(&API_KEY).chain(op.params) {
            let ty = match param.kind {
                Kind::Text => "s:string",
                Kind::Int => "s:int",
            };
            out.push_str(&format!(
                "<s:element minOccurs=\"0\" maxOccurs=\"1\" name=\"{}\" type=\"{ty}\" nillable=\"true\"/>",
                param.name
            ));
        }
        out.push_str("</s:sequence></s:complexType></s:element>");
        out.push_str(&format!(
            "<s:element name=\"{n}Response\"><s:complexType><s:sequence><s:element minOccurs=\"0\" maxOccurs=\"1\" name=\"{n}Result\" type=\"tns:{n}Result\"/></s:sequence></s:complexType></s:element><s:complexType name=\"{n}Result\">",
            n = op.name
        ));
        result_elements(&mut out, op.result);
        out.push_str("</s:complexType>");
    }
    out.push_str("</s:schema></wsdl:types>");
    for op in service.operations {
        out.push_str(&format!(
            "<wsdl:message name=\"{n}SoapIn\"><wsdl:part name=\"parameters\" element=\"tns:{n}\"/></wsdl:message><wsdl:message name=\"{n}SoapOut\"><wsdl:part name=\"parameters\" element=\"tns:{n}Response\"/></wsdl:message>",
            n = op.name
        ));
    }
    out.push_str(&format!("<wsdl:portType name=\"{port}\">"));
    for op in service.operations {
        out.push_str(&format!(
            "<wsdl:operation name=\"{n}\"><wsdl:documentation>{doc}</wsdl:documentation><wsdl:input message=\"tns:{n}SoapIn\"/><wsdl:output message=\"tns:{n}SoapOut\"/></wsdl:operation>",
            n = op.name,
            doc = escape(op.doc)
        ));
    }
    out.push_str("</wsdl:portType>");
    for (binding, prefix) in [(port.clone(), "soap"), (format!("{port}12"), "soap12")] {
        out.push_str(&format!(
            "<wsdl:binding name=\"{binding}\" type=\"tns:{port}\"><{prefix}:binding transport=\"http://schemas.xmlsoap.org/soap/http\"/>"
        ));
        for op in service.operations {
            out.push_str(&format!(
                "<wsdl:operation name=\"{n}\"><{prefix}:operation soapAction=\"{ns}{n}\" style=\"document\"/><wsdl:input><{prefix}:body use=\"literal\"/></wsdl:input><wsdl:output><{prefix}:body use=\"literal\"/></wsdl:output></wsdl:operation>",
                n = op.name
            ));
        }
        out.push_str("</wsdl:binding>");
    }
    let location = escape(location);
    out.push_str(&format!(
        "<wsdl:service name=\"{name}\"><wsdl:port name=\"{port}\" binding=\"tns:{port}\"><soap:address location=\"{location}\"/></wsdl:port><wsdl:port name=\"{port}12\" binding=\"tns:{port}12\"><soap12:address location=\"{location}\"/></wsdl:port></wsdl:service></wsdl:definitions>",
        name = service.name
    ));
    out
}
