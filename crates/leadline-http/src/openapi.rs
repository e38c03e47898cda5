//! The OpenAPI 3.1 document. Typed endpoints describe themselves through `utoipa`; the
//! reference collections are added from their descriptions in leadline-core, so the document
//! lists exactly the collections the server serves.

use leadline_core::catalog::{Collection, Kind, COLLECTIONS};
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Ref, Required};
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

fn field_schema(kind: Kind) -> Schema {
    let typed = |t: Type| ObjectBuilder::new().schema_type(t);
    match kind {
        Kind::Ref(target) => typed(Type::Integer).description(Some(format!("id of a {target} object"))).into(),
        Kind::Count => typed(Type::Integer).minimum(Some(0)).into(),
        Kind::Bool => typed(Type::Boolean).into(),
        Kind::Money => typed(Type::String).description(Some("decimal amount, e.g. \"12.50\"")).into(),
        Kind::OneOf(options) => typed(Type::String).enum_values(Some(options.iter().copied())).into(),
        Kind::Timezone => typed(Type::String).description(Some("IANA time zone, e.g. \"Australia/Sydney\"")).into(),
        Kind::Schedule => ArrayBuilder::new()
            .items(ObjectBuilder::new().property("day", typed(Type::String)).property("start", typed(Type::String)).property("end", typed(Type::String)))
            .description(Some("weekly windows: day mon..sun, start and end HH:MM"))
            .into(),
        Kind::TemplateFields => ArrayBuilder::new()
            .items(ObjectBuilder::new().property("name", typed(Type::String)).property("kind", typed(Type::String)))
            .into(),
        Kind::DispositionActions => ArrayBuilder::new()
            .items(ObjectBuilder::new().property("type", typed(Type::String)))
            .description(Some("close | callback {after_minutes} | dnc | copy_to_allocation {allocation_id} | move_to_allocation {allocation_id} | url {url}"))
            .into(),
        Kind::IdNameList => ArrayBuilder::new()
            .items(ObjectBuilder::new().property("id", typed(Type::Integer)).property("name", typed(Type::String)))
            .into(),
        Kind::Name | Kind::Text | Kind::Phone | Kind::Email => typed(Type::String).into(),
    }
}

fn collection_schema(c: &Collection) -> ObjectBuilder {
    let mut object = ObjectBuilder::new().property(
        "id",
        ObjectBuilder::new().schema_type(Type::Integer).description(Some("chosen by the client or assigned")),
    );
    for f in c.fields {
        object = object.property(f.name, field_schema(f.kind));
        if f.required {
            object = object.required(f.name);
        }
    }
    object
}

fn add_collection(doc: &mut utoipa::openapi::OpenApi, c: &Collection) {
    let json = |schema: Schema| ContentBuilder::new().schema(Some(schema)).build();
    let problem = || {
        ResponseBuilder::new()
            .description("problem details")
            .content(
                "application/problem+json",
                ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build(),
            )
            .build()
    };
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
    let body = || {
        RequestBodyBuilder::new()
            .content("application/json", json(collection_schema(c).into()))
            .required(Some(Required::True))
            .build()
    };
    let one = || {
        ResponseBuilder::new()
            .description(c.noun)
            .content("application/json", json(collection_schema(c).into()))
            .build()
    };
    let page = || {
        let items = ArrayBuilder::new().items(collection_schema(c));
        let page = ObjectBuilder::new()
            .property("items", items)
            .property("next_cursor", ObjectBuilder::new().schema_type(Type::String));
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
            .response("400", problem())
            .build(),
    );
    paths.add_path_operation(
        &list_path,
        vec![HttpMethod::Post],
        op("create", format!("Create a {}", c.noun))
            .request_body(Some(body()))
            .response("201", one())
            .response("400", problem())
            .response("409", problem())
            .build(),
    );
    paths.add_path_operation(
        &item_path,
        vec![HttpMethod::Get],
        op("get", format!("Read a {}", c.noun))
            .parameter(id_param())
            .response("200", one())
            .response("404", problem())
            .build(),
    );
    paths.add_path_operation(
        &item_path,
        vec![HttpMethod::Patch],
        op("change", format!("Change fields of a {}", c.noun))
            .parameter(id_param())
            .request_body(Some(body()))
            .response("200", one())
            .response("400", problem())
            .response("404", problem())
            .build(),
    );
    paths.add_path_operation(
        &item_path,
        vec![HttpMethod::Delete],
        op("delete", format!("Delete a {} nothing refers to", c.noun))
            .parameter(id_param())
            .response("204", ResponseBuilder::new().description("deleted").build())
            .response("404", problem())
            .response("409", problem().clone())
            .build(),
    );
}

/// The document served at `/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = NativeApi::openapi();
    for c in COLLECTIONS {
        add_collection(&mut doc, c);
    }
    let components = doc.components.get_or_insert_with(Default::default);
    components
        .add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    doc
}
