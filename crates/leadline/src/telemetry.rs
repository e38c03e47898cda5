//! Logs, and OpenTelemetry trace export when the standard `OTEL_*` variables ask for it.
//!
//! Export is off unless `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` is
//! set: then every info-level span (the `request` span of `leadline-http/src/trace.rs` at the
//! root of each request's trace, the use-case spans beneath it) goes to that OTLP/HTTP receiver
//! as protobuf, in batches from a thread of the SDK's own. The exporter reads the other standard
//! variables itself (`OTEL_EXPORTER_OTLP_HEADERS`, `…_TIMEOUT`, `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`). The endpoint and protocol are
//! checked here, because the exporter would quietly fall back to `localhost:4318` for an endpoint
//! it cannot parse and has only HTTP/protobuf in this build.

use anyhow::{bail, Context};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::Config;

/// The service name when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` gives one.
const SERVICE_NAME: &str = "leadline";

/// Where traces go, as the `OTEL_*` variables say.
#[derive(Debug, PartialEq, Eq)]
pub struct OtlpTarget {
    /// The full URL spans are posted to (`…/v1/traces`).
    pub endpoint: String,
    /// The names of the headers sent with each export; their values may be tokens, so only the
    /// names are ever shown.
    pub header_names: Vec<String>,
}

impl OtlpTarget {
    /// Reads the standard variables through `var` (the environment, or a test's map). `None`
    /// when no endpoint is set or `OTEL_SDK_DISABLED=true`; an error for settings that could not
    /// work.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Option<OtlpTarget>> {
        let set = |name: &str| var(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        if set("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        // The signal's own endpoint is used as it is; the general one gets the signal's path.
        let (name, given, endpoint) =
            match (set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), set("OTEL_EXPORTER_OTLP_ENDPOINT")) {
                (Some(traces), _) => ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces.clone(), traces),
                (None, Some(base)) => {
                    let traces = format!("{}/v1/traces", base.trim_end_matches('/'));
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", base, traces)
                }
                (None, None) => return Ok(None),
            };
        let rest = given.strip_prefix("http://").or_else(|| given.strip_prefix("https://"));
        if rest.is_none_or(|rest| rest.is_empty() || rest.starts_with(['/', '?', '#'])) {
            bail!("{name} must be an http:// or https:// URL with a host, not {:?}", shown(&given));
        }
        for name in ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] {
            if let Some(protocol) = set(name).filter(|p| p != "http/protobuf") {
                bail!("{name} is {protocol:?}, but Leadline exports over http/protobuf only");
            }
        }
        let headers = set("OTEL_EXPORTER_OTLP_TRACES_HEADERS").or_else(|| set("OTEL_EXPORTER_OTLP_HEADERS"));
        let header_names = headers
            .iter()
            .flat_map(|list| list.split(','))
            .filter_map(|pair| pair.split_once('=').map(|(name, _)| name.trim().to_string()))
            .filter(|name| !name.is_empty())
            .collect();
        Ok(Some(OtlpTarget { endpoint, header_names }))
    }

    /// The endpoint as it may be logged: no user or password, no query string.
    pub fn endpoint_for_logs(&self) -> String {
        shown(&self.endpoint)
    }
}

fn shown(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_string(),
    }
}

/// What [`init`] set up; [`Telemetry::shutdown`] sends the spans still buffered.
pub struct Telemetry {
    export: Option<(OtlpTarget, SdkTracerProvider)>,
}

/// Sets the process's subscriber: log lines to stderr as `log` and `log_format` say, and the
/// OTLP export when the environment asks for it.
pub fn init(config: &Config) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = if config.log_json { logs.json().boxed() } else { logs.boxed() };
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = vec![logs.with_filter(filter).boxed()];
    let target = OtlpTarget::from_vars(|name| std::env::var(name).ok())?;
    let export = match target {
        Some(target) => {
            let provider = provider(&target)?;
            // Spans are exported at info level whatever `log` says, so quieter logs keep traces.
            let tracer = provider.tracer("leadline");
            layers.push(tracing_opentelemetry::layer().with_tracer(tracer).with_filter(LevelFilter::INFO).boxed());
            Some((target, provider))
        }
        None => None,
    };
    tracing_subscriber::registry().with(layers).init();
    Ok(Telemetry { export })
}

fn provider(target: &OtlpTarget) -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(target.endpoint.as_str())
        .build()
        .with_context(|| format!("could not set up OpenTelemetry export to {}", target.endpoint_for_logs()))?;
    let detected = Resource::builder().build();
    let named = detected
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    let mut resource = Resource::builder().with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    if !named {
        resource = resource.with_service_name(SERVICE_NAME);
    }
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource.build()).build())
}

impl Telemetry {
    pub fn exporting(&self) -> bool {
        self.export.is_some()
    }

    /// One line saying whether spans leave the process, and to where (never a header's value).
    pub fn log_state(&self) {
        match &self.export {
            Some((target, _)) => tracing::info!(
                endpoint = %target.endpoint_for_logs(),
                headers = ?target.header_names,
                "OpenTelemetry trace export on (OTLP over HTTP, protobuf)"
            ),
            None => tracing::info!("OpenTelemetry trace export off (set OTEL_EXPORTER_OTLP_ENDPOINT to turn it on)"),
        }
    }

    /// Exports the spans still buffered and stops the exporter's thread. Call it outside the
    /// async runtime: it waits for the export.
    pub fn shutdown(self) {
        if let Some((target, provider)) = self.export {
            if let Err(error) = provider.shutdown() {
                tracing::warn!(endpoint = %target.endpoint_for_logs(), %error, "OpenTelemetry export did not finish");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(vars: &[(&str, &str)]) -> anyhow::Result<Option<OtlpTarget>> {
        OtlpTarget::from_vars(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn without_an_endpoint_nothing_is_exported() {
        assert_eq!(target(&[]).unwrap(), None);
        let others =
            [("OTEL_SERVICE_NAME", "crm"), ("OTEL_EXPORTER_OTLP_HEADERS", "a=b"), ("OTEL_EXPORTER_OTLP_ENDPOINT", " ")];
        assert_eq!(target(&others).unwrap(), None);
        let disabled = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"), ("OTEL_SDK_DISABLED", "TRUE")];
        assert_eq!(target(&disabled).unwrap(), None);
    }

    #[test]
    fn the_general_endpoint_gets_the_traces_path_and_the_traces_endpoint_is_used_as_it_is() {
        let general = target(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]).unwrap().unwrap();
        assert_eq!(general.endpoint, "http://collector:4318/v1/traces");
        let both = target(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://traces.example/ingest"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(both.endpoint, "https://traces.example/ingest");
    }

    #[test]
    fn header_values_and_credentials_in_the_url_are_never_shown() {
        let found = target(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://user:s3cret@collector:4318/base?token=t0ken"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20abc, x-tenant = acme"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(found.header_names, ["authorization", "x-tenant"]);
        assert_eq!(found.endpoint_for_logs(), "https://collector:4318/base");
        let traces_headers = target(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "b=2"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(traces_headers.header_names, ["b"], "the signal's own headers replace the general ones");
    }

    #[test]
    fn an_endpoint_or_protocol_that_cannot_work_is_refused_by_name() {
        let error = target(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL with a host, not \"collector:4318\""
        );
        let error = target(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http:///v1/traces")]).unwrap_err();
        assert!(error.to_string().starts_with("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must be"), "{error}");
        let error =
            target(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")])
                .unwrap_err();
        assert_eq!(
            error.to_string(),
            "OTEL_EXPORTER_OTLP_PROTOCOL is \"grpc\", but Leadline exports over http/protobuf only"
        );
        let fine = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")];
        assert!(target(&fine).unwrap().is_some());
    }
}
