//! The OpenAPI 3.1 document. Typed endpoints describe themselves through `utoipa`; the
//! reference collections are added from their descriptions in leadline-core, so the document
//! lists exactly the collections the server serves.

use leadline_core::catalog::{Collection, Kind, COLLECTIONS};
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::Header;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Ref, RefOr, Required};
use utoipa::OpenApi;

use crate::native;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Leadline",
        description = "Lead lifecycle server: the native JSON API. Authenticate with `Authorization: Bearer <key>`."
    ),
    paths(
        native::leads::create,
        native::leads::get,
        native::leads::change,
        native::leads::list,
        native::leads::history,
        native::archive::get,
        native::keys::create,
        native::keys::list,
        native::keys::revoke,
        native::sales::create,
        native::sales::list,
        native::returns::create,
        native::returns::list,
        native::returns::get,
        native::returns::approve,
        native::returns::reject,
        native::returns::buyer_ledger,
        native::returns::replacement_requests,
        native::returns::fulfil_replacement,
        native::queues::act,
        native::queues::ledger,
        native::catalog::apply,
        native::dialer::next_lead,
        native::dialer::release,
        native::dialer::disposition,
        native::imports::create,
        native::imports::get,
        native::imports::rejects,
        native::imports::export_leads,
    ),
    components(schemas(crate::error::Problem))
)]
struct NativeApi;

/// A field's schema; `nullable` for fields a stored object may leave unset (read back as null).
fn field_schema(kind: Kind, nullable: bool) -> Schema {
    let of = |t: Type| -> SchemaType {
        if nullable {
            SchemaType::from_iter([t, Type::Null])
        } else {
            t.into()
        }
    };
    let typed = |t: Type| ObjectBuilder::new().schema_type(of(t));
    let string = || ObjectBuilder::new().schema_type(Type::String);
    match kind {
        Kind::Ref(target) => typed(Type::Integer).description(Some(format!("id of a {target} object"))).into(),
        Kind::Count => typed(Type::Integer).minimum(Some(0)).into(),
        Kind::Bool => typed(Type::Boolean).into(),
        Kind::Money => typed(Type::String).description(Some("decimal amount, e.g. \"12.50\"")).into(),
        Kind::OneOf(options) => {
            let values = options.iter().map(|o| Some(*o)).chain(nullable.then_some(None));
            typed(Type::String).enum_values(Some(values)).into()
        }
        Kind::Timezone => typed(Type::String).description(Some("IANA time zone, e.g. \"Australia/Sydney\"")).into(),
        Kind::Schedule => ArrayBuilder::new()
            .schema_type(of(Type::Array))
            .items(ObjectBuilder::new().property("day", string()).property("start", string()).property("end", string()))
            .description(Some("weekly windows: day mon..sun, start and end HH:MM"))
            .into(),
        Kind::TemplateFields => ArrayBuilder::new()
            .schema_type(of(Type::Array))
            .items(ObjectBuilder::new().property("name", string()).property("kind", string()))
            .into(),
        Kind::DispositionActions => ArrayBuilder::new()
            .schema_type(of(Type::Array))
            .items(ObjectBuilder::new().property("type", string()))
            .description(Some("close | callback {after_minutes} | dnc | copy_to_allocation {allocation_id} | move_to_allocation {allocation_id} | url {url}"))
            .into(),
        Kind::IdNameList => ArrayBuilder::new()
            .schema_type(of(Type::Array))
            .items(ObjectBuilder::new().property("id", ObjectBuilder::new().schema_type(Type::Integer)).property("name", string()))
            .into(),
        Kind::Name | Kind::Text | Kind::Phone | Kind::Email => typed(Type::String).into(),
    }
}

/// How a collection's object is described: as created (its required fields marked), as changed
/// (any subset of fields), or as read back.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Create,
    Change,
    Read,
}

fn collection_schema(c: &Collection, shape: Shape) -> ObjectBuilder {
    let mut object = ObjectBuilder::new().property(
        "id",
        ObjectBuilder::new().schema_type(Type::Integer).description(Some("chosen by the client or assigned")),
    );
    for f in c.fields {
        object = object.property(f.name, field_schema(f.kind, !f.required));
        if f.required && shape != Shape::Change {
            object = object.required(f.name);
        }
    }
    if shape == Shape::Read {
        object = object.required("id");
    }
    object
}

/// A refusal: problem details, as every native refusal is served ([`crate::error::ApiError`]).
fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build(),
        )
        .build()
}

fn add_collection(doc: &mut utoipa::openapi::OpenApi, c: &Collection) {
    let json = |schema: Schema| ContentBuilder::new().schema(Some(schema)).build();
    let id_param = || {
        ParameterBuilder::new()
            .name("id")
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
            .build()
    };
    let op = |id: &str, summary: String| {
        OperationBuilder::new()
            .tag("catalog")
            .operation_id(Some(format!("{id}_{}", c.table)))
            .summary(Some(summary))
            .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
    };
    let body = |shape: Shape| {
        RequestBodyBuilder::new()
            .content("application/json", json(collection_schema(c, shape).into()))
            .required(Some(Required::True))
            .build()
    };
    let one = || {
        ResponseBuilder::new()
            .description(c.noun)
            .content("application/json", json(collection_schema(c, Shape::Read).into()))
            .build()
    };
    let page = || {
        let items = ArrayBuilder::new().items(collection_schema(c, Shape::Read));
        let page = ObjectBuilder::new()
            .property("items", items)
            .property(
                "next_cursor",
                ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null])),
            )
            .required("items")
            .required("next_cursor");
        ResponseBuilder::new().description("a page").content("application/json", json(page.into())).build()
    };
    let paths = &mut doc.paths;
    let list_path = format!("/v1/{}", c.name);
    let item_path = format!("/v1/{}/{{id}}", c.name);
    paths.add_path_operation(
        &list_path,
        vec![HttpMethod::Get],
        op("list", format!("List {}", c.name))
            .parameter(
                ParameterBuilder::new()
                    .name("cursor")
                    .parameter_in(ParameterIn::Query)
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .build(),
            )
            .parameter(
                ParameterBuilder::new()
                    .name("limit")
                    .parameter_in(ParameterIn::Query)
                    .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
                    .build(),
            )
            .description(Some("Any field may also be given as an equality filter, e.g. `?name=…`."))
            .response("200", page())
            .build(),
    );
    paths.add_path_operation(
        &list_path,
        vec![HttpMethod::Post],
        op("create", format!("Create a {}", c.noun))
            .request_body(Some(body(Shape::Create)))
            .response("201", one())
            .response("409", problem("its id or a value that must be unique is taken"))
            .build(),
    );
    paths.add_path_operation(
        &item_path,
        vec![HttpMethod::Get],
        op("get", format!("Read a {}", c.noun))
            .parameter(id_param())
            .response("200", one())
            .response("404", problem("no such object"))
            .build(),
    );
    paths.add_path_operation(
        &item_path,
        vec![HttpMethod::Patch],
        op("change", format!("Change fields of a {}", c.noun))
            .parameter(id_param())
            .request_body(Some(body(Shape::Change)))
            .response("200", one())
            .response("404", problem("no such object"))
            .build(),
    );
    paths.add_path_operation(
        &item_path,
        vec![HttpMethod::Delete],
        op("delete", format!("Delete a {} nothing refers to", c.noun))
            .parameter(id_param())
            .response("204", ResponseBuilder::new().description("deleted").build())
            .response("404", problem("no such object"))
            .response("409", problem("other objects still refer to it"))
            .build(),
    );
}

/// The document served at `/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = NativeApi::openapi();
    for c in COLLECTIONS {
        add_collection(&mut doc, c);
    }
    document_refusals(&mut doc);
    let components = doc.components.get_or_insert_with(Default::default);
    components
        .add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    doc
}

/// Adds to every operation the refusals that hold for all of them, so no annotation has to repeat
/// them: a refusal's body is problem details (`application/problem+json`, never plain JSON); an
/// operation behind a key answers 401 without a live one and 429 (with `Retry-After`) past a rate
/// limit; one that reads a path, query or body answers 400 when it cannot use them, and 413 when
/// the body is over `body_limit_bytes`; any answers 503 past `request_timeout_seconds` or while
/// the database cannot be reached, and one that may write 507 while the database's disk is full.
fn document_refusals(doc: &mut utoipa::openapi::OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [
            (&mut item.get, false),
            (&mut item.put, true),
            (&mut item.post, true),
            (&mut item.patch, true),
            (&mut item.delete, true),
        ];
        for (operation, writes) in operations.into_iter().filter_map(|(op, writes)| op.as_mut().map(|op| (op, writes)))
        {
            let reads_input = operation.parameters.as_ref().is_some_and(|p| !p.is_empty())
                || operation.request_body.is_some()
                || path.contains('{');
            let responses = &mut operation.responses.responses;
            for (status, response) in responses.iter_mut() {
                if let (false, RefOr::T(response)) = (status.starts_with('2'), response) {
                    if let Some(content) = response.content.shift_remove("application/json") {
                        response.content.insert("application/problem+json".into(), content);
                    }
                }
            }
            if operation.security.is_some() {
                responses
                    .entry("401".into())
                    .or_insert_with(|| problem("no live API key was sent (`Authorization: Bearer <key>`)").into());
                responses.entry("429".into()).or_insert_with(|| {
                    let mut limited = problem(
                        "past the key's rate limit, or without a valid key the client address's; retry after `Retry-After` seconds",
                    );
                    let seconds = ObjectBuilder::new().schema_type(SchemaType::Type(Type::Integer)).build();
                    limited.headers.insert("Retry-After".into(), Header::new(seconds));
                    limited.into()
                });
            }
            responses.entry("503".into()).or_insert_with(|| {
                let mut unavailable = problem(
                    "not answered within `request_timeout_seconds`, or the database cannot be reached for now (then with `Retry-After` seconds)",
                );
                let seconds = ObjectBuilder::new().schema_type(SchemaType::Type(Type::Integer)).build();
                unavailable.headers.insert("Retry-After".into(), Header::new(seconds));
                unavailable.into()
            });
            if writes {
                // Reads go on when the database's disk is full; writes are refused.
                responses.entry("507".into()).or_insert_with(|| {
                    problem("the database's storage is full: nothing was written; reads go on").into()
                });
            }
            if reads_input {
                responses.entry("400".into()).or_insert_with(|| {
                    problem("the path, query or body is not valid; `field` names what was wrong").into()
                });
            }
            if operation.request_body.is_some() {
                responses
                    .entry("413".into())
                    .or_insert_with(|| problem("the body is larger than the server accepts").into());
            }
        }
    }
}
