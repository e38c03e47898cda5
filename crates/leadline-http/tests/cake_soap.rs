//! CAKE over SOAP as toolkits write it, envelopes that must be refused (each with a fault and no
//! change), the WSDL and `?op=` pages, and arbitrary bytes at every CAKE parser.

mod common;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{Reply, TestApp};
use leadline_app::conformance;
use leadline_http::cake::{self, xml};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use quick_xml::events::Event;
use serde_json::{json, Value};

const NS: &str = "http://cakemarketing.com/api/1/";
const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";

async fn fixture(t: &TestApp) -> (String, i64) {
    let catalog = json!({
        "verticals": [{"id": 32, "name": "Solar"}],
        "queue-statuses": [{"id": 235, "name": "Called"}],
        "queues": [{"id": 10, "name": "Calls", "kind": "call_center", "vertical_id": 32},
                   {"id": 1234, "name": "Hot", "kind": "custom", "vertical_id": 32}]
    });
    let applied = t.call("PUT", "/v1/catalog", Some(&t.admin), Some(&catalog)).await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.text);
    let created = t.post("/v1/leads", json!({"vertical_id": 32, "phones": ["0299990001"], "queue_id": 10})).await;
    (created.body["ref"].as_str().unwrap().to_string(), created.body["id"].as_i64().unwrap())
}

async fn post(t: &TestApp, path: &str, content_type: &str, action: Option<&str>, body: impl Into<Body>) -> Reply {
    let mut builder = Request::post(path).header("Content-Type", content_type);
    if let Some(action) = action {
        builder = builder.header("SOAPAction", action);
    }
    t.send(builder.body(body.into()).unwrap()).await
}

fn soap11_ok(lead_ref: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<soap:Envelope xmlns:soap=\"{SOAP11}\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"><soap:Body><UpdateLeadInQueueResponse xmlns=\"{NS}\"><UpdateLeadInQueueResult><success>true</success><message>Lead updated</message><lead_id>{lead_ref}</lead_id></UpdateLeadInQueueResult></UpdateLeadInQueueResponse></soap:Body></soap:Envelope>")
}

fn fault11(reason: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<soap:Envelope xmlns:soap=\"{SOAP11}\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"><soap:Body><soap:Fault><faultcode>soap:Client</faultcode><faultstring>{reason}</faultstring></soap:Fault></soap:Body></soap:Envelope>")
}

fn fault12(code: &str, reason: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<soap:Envelope xmlns:soap=\"{SOAP12}\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"><soap:Body><soap:Fault><soap:Code><soap:Value>{code}</soap:Value></soap:Code><soap:Reason><soap:Text xml:lang=\"en\">{reason}</soap:Text></soap:Reason></soap:Fault></soap:Body></soap:Envelope>")
}

conformance! {
    async fn soap_requests_written_as_toolkits_write_them_succeed(app) {
        let t = TestApp::new(app).await;
        let (r, id) = fixture(&t).await;
        let key = t.admin.clone();
        // As .NET's generated client writes SOAP 1.1: default namespace on the operation.
        let dotnet = format!(r#"<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Body>
    <UpdateLeadInQueue xmlns="http://cakemarketing.com/api/1/">
      <api_key>{key}</api_key>
      <lead_id>{r}</lead_id>
      <vertical_id>32</vertical_id>
      <custom_queue_status_id>235</custom_queue_status_id>
      <action>move_to_custom_queue</action>
      <custom_queue_id>1234</custom_queue_id>
    </UpdateLeadInQueue>
  </soap:Body>
</soap:Envelope>"#);
        let reply = post(&t, "/api/1/track.asmx", "text/xml; charset=utf-8", Some("\"http://cakemarketing.com/api/1/UpdateLeadInQueue\""), dotnet).await;
        assert_eq!((reply.status, reply.content_type(), reply.text.as_str()), (StatusCode::OK, "text/xml; charset=utf-8", soap11_ok(&r).as_str()));
        assert_eq!(t.get(&format!("/v1/leads/{id}")).await.body["queue_id"], 1234);

        // As SoapUI / JAX-WS write SOAP 1.2: `env:` envelope, `cake:` on every element, an empty
        // header, the action in the content type, nil and empty optionals.
        let java = format!(r#"<?xml version='1.0' encoding='UTF-8'?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:cake="http://cakemarketing.com/api/1/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
   <env:Header/>
   <env:Body>
      <cake:UpdateLeadInQueue>
         <!-- optional parameters left empty -->
         <cake:api_key>{key}</cake:api_key>
         <cake:lead_id>{r}</cake:lead_id>
         <cake:vertical_id xsi:nil="true"/>
         <cake:custom_queue_status_id>235</cake:custom_queue_status_id>
         <cake:action>move_to_queue</cake:action>
         <cake:custom_queue_id></cake:custom_queue_id>
      </cake:UpdateLeadInQueue>
   </env:Body>
</env:Envelope>"#);
        let reply = post(&t, "/api/1/track.asmx", "application/soap+xml;charset=UTF-8;action=\"http://cakemarketing.com/api/1/UpdateLeadInQueue\"", None, java).await;
        let want = soap11_ok(&r).replace(SOAP11, SOAP12);
        assert_eq!((reply.status, reply.content_type(), reply.text.as_str()), (StatusCode::OK, "application/soap+xml; charset=utf-8", want.as_str()));
        assert_eq!(t.get(&format!("/v1/leads/{id}")).await.body["queue_id"], 10);

        // As zeep / Axis write: `S:`/`ns2:` prefixes, no SOAPAction value, CDATA.
        let zeep = format!(r#"<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body><ns2:UpdateLeadInQueue xmlns:ns2="http://cakemarketing.com/api/1/"><ns2:api_key><![CDATA[{key}]]></ns2:api_key><ns2:lead_id>{r}</ns2:lead_id><ns2:action>throw_out</ns2:action></ns2:UpdateLeadInQueue></S:Body></S:Envelope>"#);
        let reply = post(&t, "/api/1/track.asmx", "text/xml", Some("\"\""), zeep).await;
        assert_eq!(reply.text, soap11_ok(&r));
        assert_eq!(t.get(&format!("/v1/leads/{id}")).await.body["thrown_out"], true);
    }

    async fn refused_envelopes_get_a_fault_and_change_nothing(app) {
        let t = TestApp::new(app).await;
        let (r, id) = fixture(&t).await;
        let key = t.admin.clone();
        let before = t.get(&format!("/v1/leads/{id}")).await.body;
        let good_inner = format!("<api_key>{key}</api_key><lead_id>{r}</lead_id><action>throw_out</action>");
        let envelope = |inner: &str| format!("<soap:Envelope xmlns:soap=\"{SOAP11}\"><soap:Body>{inner}</soap:Body></soap:Envelope>");
        let cases: Vec<(String, Option<&str>, &str)> = vec![
            (format!("<soap:Envelope xmlns:soap=\"{SOAP11}\"><soap:Body><UpdateLeadInQueue>{good_inner}</soap:Body></soap:Envelope>"), None,
             "the envelope is not well-formed XML: ill-formed document: expected `&lt;/UpdateLeadInQueue&gt;`, but `&lt;/soap:Body&gt;` was found"),
            (format!("<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;\">]>{}", envelope(&format!("<UpdateLeadInQueue xmlns=\"{NS}\">{good_inner}<lead_id>&lol2;</lead_id></UpdateLeadInQueue>"))), None,
             "a DOCTYPE is not allowed in a SOAP message"),
            (format!("<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>{}", envelope(&format!("<UpdateLeadInQueue>{good_inner}</UpdateLeadInQueue>"))), None,
             "a DOCTYPE is not allowed in a SOAP message"),
            (envelope(&format!("<UpdateLeadInQueue><api_key>{key}</api_key><lead_id>&xxe;</lead_id><action>throw_out</action></UpdateLeadInQueue>")), None,
             "text holds an entity other than XML&apos;s predefined ones, or a malformed character reference"),
            (envelope(&format!("<DeleteEverything>{good_inner}</DeleteEverything>")), None,
             "/api/1/track.asmx has no operation `DeleteEverything`; it has UpdateLeadInQueue, ReturnLead"),
            (envelope(&format!("<UpdateLeadInQueue>{good_inner}</UpdateLeadInQueue>")), Some("\"http://cakemarketing.com/api/1/ReturnLead\""),
             "the SOAP action `http://cakemarketing.com/api/1/ReturnLead` does not name the body&apos;s operation UpdateLeadInQueue"),
            (envelope(&format!("<UpdateLeadInQueue>{good_inner}</UpdateLeadInQueue><UpdateLeadInQueue>{good_inner}</UpdateLeadInQueue>")), None,
             "the Body holds more than one operation"),
            (envelope(&format!("<UpdateLeadInQueue>{good_inner}<action>move_to_queue</action></UpdateLeadInQueue>")), None,
             "parameter `action` is given more than once"),
            (envelope(&format!("<UpdateLeadInQueue><api_key>{key}</api_key><lead_id><b>{r}</b></lead_id></UpdateLeadInQueue>")), None,
             "parameter `lead_id` holds an element; it must hold text"),
            (format!("<soap:Envelope xmlns:soap=\"{SOAP11}\"><soap:Header/></soap:Envelope>"), None, "the Envelope has no Body"),
            (format!("<Envelope><Body><UpdateLeadInQueue>{good_inner}</UpdateLeadInQueue></Body></Envelope>"), None, ""),
            ("".to_string(), None, "the envelope ends before it is complete"),
            ("not xml at all".to_string(), None, "text where the envelope allows only elements"),
        ];
        for (body, action, reason) in cases {
            let reply = post(&t, "/api/1/track.asmx", "text/xml; charset=utf-8", action, body.clone()).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}\n{}", reply.text);
            if reason.is_empty() {
                let want = fault11("").replace("<faultcode>soap:Client</faultcode><faultstring></faultstring>", "<faultcode>soap:VersionMismatch</faultcode><faultstring>the Envelope is in neither the SOAP 1.1 nor the SOAP 1.2 namespace</faultstring>");
                assert_eq!(reply.text, want, "{body}");
            } else {
                assert_eq!(reply.text, fault11(reason), "{body}");
            }
        }
        // The same refusals in SOAP 1.2 come as 1.2 faults blaming the sender.
        let envelope12 = |inner: &str| format!("<env:Envelope xmlns:env=\"{SOAP12}\"><env:Body>{inner}</env:Body></env:Envelope>");
        let cases12 = [
            (format!("<!DOCTYPE e [<!ENTITY a \"b\">]>{}", envelope12(&format!("<UpdateLeadInQueue>{good_inner}</UpdateLeadInQueue>"))), "a DOCTYPE is not allowed in a SOAP message"),
            (envelope12(&format!("<UpdateLeadInQueue>{good_inner}")), "the envelope is not well-formed XML: ill-formed document: expected `&lt;/UpdateLeadInQueue&gt;`, but `&lt;/env:Body&gt;` was found"),
            (envelope12(&format!("<Nope>{good_inner}</Nope>")), "/api/1/track.asmx has no operation `Nope`; it has UpdateLeadInQueue, ReturnLead"),
        ];
        for (body, reason) in cases12 {
            let reply = post(&t, "/api/1/track.asmx", "application/soap+xml; charset=utf-8", None, body.clone()).await;
            assert_eq!((reply.status, reply.content_type()), (StatusCode::BAD_REQUEST, "application/soap+xml; charset=utf-8"), "{body}");
            assert_eq!(reply.text, fault12("soap:Sender", reason), "{body}");
        }
        let padding = " ".repeat(cake::BODY_LIMIT);
        let reply = post(&t, "/api/1/track.asmx", "application/soap+xml", None, envelope12(&format!("<UpdateLeadInQueue>{good_inner}{padding}</UpdateLeadInQueue>"))).await;
        assert_eq!((reply.status, reply.text.as_str()), (StatusCode::PAYLOAD_TOO_LARGE, fault12("soap:Sender", "the request body is larger than 65536 bytes").as_str()));
        // A SOAP 1.2 fault for a 1.1 envelope sent as 1.2.
        let reply = post(&t, "/api/1/track.asmx", "application/soap+xml", None, envelope(&format!("<UpdateLeadInQueue>{good_inner}</UpdateLeadInQueue>"))).await;
        assert_eq!((reply.status, reply.text.as_str()), (StatusCode::BAD_REQUEST, fault12("soap:VersionMismatch", "the envelope&apos;s SOAP version does not match the Content-Type").as_str()));
        // Oversized: a fault with 413, read no further than the limit.
        let padding = " ".repeat(cake::BODY_LIMIT + 1);
        let reply = post(&t, "/api/1/track.asmx", "text/xml", None, envelope(&format!("<UpdateLeadInQueue>{good_inner}{padding}</UpdateLeadInQueue>"))).await;
        assert_eq!((reply.status, reply.text.as_str()), (StatusCode::PAYLOAD_TOO_LARGE, fault11("the request body is larger than 65536 bytes").as_str()));
        let reply = post(&t, "/api/1/track.asmx/UpdateLeadInQueue", "application/x-www-form-urlencoded", None, format!("api_key={key}&lead_id={r}&action=throw_out&pad={padding}")).await;
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(reply.text.ends_with("<success>false</success><message>Request body is larger than 65536 bytes</message></update_lead_response>"), "{}", reply.text);
        // Not SOAP at all.
        let reply = post(&t, "/api/1/track.asmx", "application/json", None, "{}").await;
        assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(reply.text.contains("<faultcode>soap:Client</faultcode>"), "{}", reply.text);
        // Unreadable JSON and a wrong content type on an operation path.
        let reply = post(&t, "/api/1/track.asmx/UpdateLeadInQueue", "application/json", None, "{\"api_key\": ").await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert!(reply.body["d"]["message"].as_str().unwrap().starts_with("the body is not JSON"), "{}", reply.text);
        let reply = post(&t, "/api/1/track.asmx/UpdateLeadInQueue", "application/json", None, format!("{{\"api_key\": \"{key}\", \"lead_id\": [\"{r}\"]}}")).await;
        assert_eq!((reply.status, reply.body["d"]["message"].as_str()), (StatusCode::BAD_REQUEST, Some("parameter lead_id must be a string, a number or null")));
        let reply = post(&t, "/api/1/track.asmx/UpdateLeadInQueue", "text/plain", None, "x").await;
        assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        // An unknown operation path.
        let reply = t.send(Request::get("/api/1/track.asmx/DropTables?api_key=x").body(Body::empty()).unwrap()).await;
        assert_eq!((reply.status, reply.text.as_str()), (StatusCode::NOT_FOUND, "/api/1/track.asmx has no operation `DropTables`; it has UpdateLeadInQueue, ReturnLead"));
        assert_eq!(t.get(&format!("/v1/leads/{id}")).await.body, before, "no refused request changed the lead");
    }

    async fn the_wsdl_parses_and_names_every_operation_and_op_pages_describe_one(app) {
        let t = TestApp::new(app).await;
        for service in cake::SERVICES {
            for query in ["WSDL", "wsdl"] {
                let reply = t.send(Request::get(format!("{}?{query}", service.path)).header("Host", "leads.example").body(Body::empty()).unwrap()).await;
                assert_eq!((reply.status, reply.content_type()), (StatusCode::OK, "text/xml; charset=utf-8"));
                let (operations, locations) = wsdl_summary(&reply.text);
                let names: Vec<&str> = service.operations.iter().map(|o| o.name).collect();
                assert_eq!(operations.portType, names, "{}", service.path);
                assert_eq!(operations.bindings, [names.clone(), names.clone()].concat());
                assert_eq!(locations, vec![format!("http://leads.example{}", service.path); 2]);
            }
            for operation in service.operations {
                let reply = t.send(Request::get(format!("{}?op={}", service.path, operation.name)).body(Body::empty()).unwrap()).await;
                assert_eq!((reply.status, reply.content_type()), (StatusCode::OK, "text/html; charset=utf-8"));
                assert!(reply.text.contains(&format!("<h1>{}</h1>", operation.name)), "{}", reply.text);
                for param in operation.params {
                    assert!(reply.text.contains(&format!("<td>{}</td>", param.name)), "{} lacks {}", operation.name, param.name);
                }
            }
            let reply = t.send(Request::get(format!("{}?op=Nope", service.path)).body(Body::empty()).unwrap()).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND);
            let reply = t.send(Request::get(service.path).body(Body::empty()).unwrap()).await;
            assert_eq!(reply.status, StatusCode::OK);
            assert!(service.operations.iter().all(|o| reply.text.contains(&format!("?op={}\"", o.name))));
        }
    }

    async fn arbitrary_requests_at_every_transport_never_get_a_5xx_or_a_change(app) {
        let t = TestApp::new(app).await;
        let (r, id) = fixture(&t).await;
        let before = t.get(&format!("/v1/leads/{id}")).await.body;
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = (0usize..8, proptest::collection::vec(any::<u8>(), 0..400), proptest::bool::ANY);
        let mut sent = 0;
        while Instant::now() < deadline && sent < 400 {
            let (how, mut bytes, wrap) = strategy.new_tree(&mut runner).unwrap().current();
            if wrap {
                // Arbitrary bytes inside a real envelope around a real lead, with a key that is
                // not a key: the parser runs deep, and the answer can only be a refusal.
                let inner = String::from_utf8_lossy(&bytes).into_owned();
                bytes = format!("<soap:Envelope xmlns:soap=\"{SOAP11}\"><soap:Body><UpdateLeadInQueue><api_key>nope</api_key><lead_id>{r}</lead_id>{inner}</UpdateLeadInQueue></soap:Body></soap:Envelope>").into_bytes();
            }
            let request = match how {
                0 => Request::post("/api/1/track.asmx").header("Content-Type", "text/xml").body(Body::from(bytes)),
                1 => Request::post("/api/1/track.asmx").header("Content-Type", "application/soap+xml").body(Body::from(bytes)),
                2 => Request::post("/api/1/track.asmx/UpdateLeadInQueue").header("Content-Type", "application/json").body(Body::from(bytes)),
                3 => Request::post("/api/1/track.asmx/UpdateLeadInQueue").header("Content-Type", "application/x-www-form-urlencoded").body(Body::from(bytes)),
                4 => {
                    let query: String = form_urlencoded::byte_serialize(&bytes).collect();
                    Request::get(format!("/api/1/get.asmx/Verticals?{query}")).body(Body::empty())
                }
                5 => Request::post("/api/1/get.asmx").header("Content-Type", "text/xml").body(Body::from(bytes)),
                6 => Request::post("/api/2/track.asmx/ReturnLead").header("Content-Type", "application/json").body(Body::from(bytes)),
                _ => Request::post("/buyers/api/1/leads.asmx").header("Content-Type", "application/soap+xml").body(Body::from(bytes)),
            };
            let reply = t.send(request.unwrap()).await;
            assert!(reply.status.as_u16() < 500, "{how}: {}", reply.text);
            sent += 1;
        }
        assert!(sent > 20, "only {sent} requests in the time bound");
        assert_eq!(t.get(&format!("/v1/leads/{id}")).await.body, before);
    }
}

#[derive(Default)]
#[allow(non_snake_case)]
struct WsdlOperations {
    portType: Vec<String>,
    bindings: Vec<String>,
}

/// Reads a WSDL strictly (every element closed, attributes well-formed) and returns the
/// operations of its port type and bindings, and the service addresses.
fn wsdl_summary(text: &str) -> (WsdlOperations, Vec<String>) {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<String> = Vec::new();
    let mut found = WsdlOperations::default();
    let mut locations = Vec::new();
    loop {
        let event = reader.read_event().expect("the WSDL is well-formed XML");
        let (element, opens) = match &event {
            Event::Start(e) => (e.clone(), true),
            Event::Empty(e) => (e.clone(), false),
            Event::End(_) => {
                stack.pop();
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let name = String::from_utf8(element.name().as_ref().to_vec()).unwrap();
        let attr = |key: &str| {
            element
                .attributes()
                .map(|a| a.expect("a well-formed attribute"))
                .find(|a| a.key.as_ref() == key.as_bytes())
                .map(|a| String::from_utf8(a.value.to_vec()).unwrap())
        };
        if name == "wsdl:operation" {
            let op = attr("name").unwrap();
            match stack.last().map(String::as_str) {
                Some("wsdl:portType") => found.portType.push(op),
                Some("wsdl:binding") => found.bindings.push(op),
                _ => {}
            }
        }
        if name.ends_with(":address") {
            locations.push(attr("location").unwrap());
        }
        if opens {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "every element is closed");
    (found, locations)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_soap_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = xml::read_soap(&bytes, None);
        let _ = xml::read_soap(&bytes, Some(xml::SoapVersion::V12));
    }

    #[test]
    fn the_soap_reader_never_panics_inside_an_envelope(inner in ".{0,300}") {
        let body = format!("<e:Envelope xmlns:e=\"{SOAP11}\"><e:Body><Op>{inner}</Op></e:Body></e:Envelope>");
        let _ = xml::read_soap(body.as_bytes(), None);
    }

    #[test]
    fn the_form_and_json_readers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = cake::parse_form(&bytes);
        let _ = cake::parse_json(&bytes);
    }

    #[test]
    fn json_objects_of_scalars_are_read_as_parameters(pairs in proptest::collection::btree_map("[a-z_]{1,12}", "[ -~]{0,20}", 0..8)) {
        let object: serde_json::Map<String, Value> = pairs.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect();
        let read = cake::parse_json(Value::Object(object).to_string().as_bytes()).unwrap();
        let expected: Vec<(String, Option<String>)> = pairs.into_iter().map(|(k, v)| (k, Some(v))).collect();
        prop_assert_eq!(read, expected);
    }
}
