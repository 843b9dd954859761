//! GraphiQL served from the binary: the page and the vendored scripts and styles
//! (`assets/graphiql/`, pinned versions and licences there), so that the explorer works on a
//! network without internet access. The page names no external URL.
use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// Where the assets are served; the GraphiQL version in the path lets browsers keep them.
pub const ASSET_PREFIX: &str = "/graphiql/3.8.3";

macro_rules! asset {
    ($file:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/graphiql/",
            $file
        ))
    };
}

/// The vendored files: name, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "graphiql.min.js",
        "text/javascript; charset=utf-8",
        asset!("graphiql.min.js"),
    ),
    (
        "graphiql.min.css",
        "text/css; charset=utf-8",
        asset!("graphiql.min.css"),
    ),
    (
        "react.production.min.js",
        "text/javascript; charset=utf-8",
        asset!("react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8",
        asset!("react-dom.production.min.js"),
    ),
];

/// The GraphiQL page, posting queries to `endpoint`.
pub fn page(endpoint: &str) -> Html<String> {
    let endpoint = serde_json::to_string(endpoint).unwrap_or_else(|_| "\"/graphql\"".into());
    Html(format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>GraphiQL · nhs-organisations</title>
<style>body {{ height: 100%; margin: 0; width: 100%; overflow: hidden; }} #graphiql {{ height: 100vh; }}</style>
<link rel="stylesheet" href="{p}/graphiql.min.css">
<script src="{p}/react.production.min.js"></script>
<script src="{p}/react-dom.production.min.js"></script>
<script src="{p}/graphiql.min.js"></script>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script>
  const params = new URLSearchParams(window.location.search);
  const fetcher = GraphiQL.createFetcher({{ url: {endpoint} }});
  const props = {{ fetcher, defaultEditorToolsVisibility: true }};
  if (params.get("query")) props.query = params.get("query");
  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, props)
  );
</script>
</body>
</html>
"#,
        p = ASSET_PREFIX
    ))
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, kind, bytes)) => {
            let mut resp = ([(header::CONTENT_TYPE, *kind)], *bytes).into_response();
            resp.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            );
            resp
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The asset routes (merged into the application's router).
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route(&format!("{ASSET_PREFIX}/{{file}}"), get(asset))
}
