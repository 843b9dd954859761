//! Depth, complexity and document-shape limits: realistic queries pass, abusive ones fail with
//! QUERY_TOO_COMPLEX before a single SQL statement runs.
use crate::common;

use std::sync::atomic::Ordering;

use common::{data, error_code, gql, TestDb};
use nhs_organisations::config::QueryLimits;
use nhs_organisations::graphql::{build_schema, build_schema_with_limits};
use serde_json::Value;

/// The full introspection query as GraphQL tools build it: `type_depth` levels of `ofType`,
/// optionally with the newer fields GraphiQL asks for.
fn introspection_query(type_depth: usize, newer_fields: bool) -> String {
    let mut type_ref = String::from("kind name");
    for _ in 0..type_depth {
        type_ref = format!("kind name ofType {{ {type_ref} }}");
    }
    let (schema_desc, specified, one_of, repeatable, input_dep, input_dep_fields) = if newer_fields
    {
        (
            "description",
            "specifiedByURL",
            "isOneOf",
            "isRepeatable",
            "(includeDeprecated: true)",
            "isDeprecated deprecationReason",
        )
    } else {
        ("", "", "", "", "", "")
    };
    format!(
        "query IntrospectionQuery {{
          __schema {{
            {schema_desc}
            queryType {{ name }} mutationType {{ name }} subscriptionType {{ name }}
            types {{ ...FullType }}
            directives {{ name description {repeatable} locations args{input_dep} {{ ...InputValue }} }}
          }}
        }}
        fragment FullType on __Type {{
          kind name description {specified} {one_of}
          fields(includeDeprecated: true) {{
            name description args{input_dep} {{ ...InputValue }} type {{ ...TypeRef }}
            isDeprecated deprecationReason
          }}
          inputFields{input_dep} {{ ...InputValue }}
          interfaces {{ ...TypeRef }}
          enumValues(includeDeprecated: true) {{ name description isDeprecated deprecationReason }}
          possibleTypes {{ ...TypeRef }}
        }}
        fragment InputValue on __InputValue {{
          name description type {{ ...TypeRef }} defaultValue {input_dep_fields}
        }}
        fragment TypeRef on __Type {{ {type_ref} }}"
    )
}

const WHOLE_TREE: &str = "{ nhsEnglandRegions { name integratedCareBoards { name organisations { name paediatricDiabetesUnit { pzCode paediatricDiabetesNetwork { name } } } } } }";

const ALL_EDGES: &str = "odsCode name trust { odsCode name } localHealthBoard { odsCode name }
    integratedCareBoard { odsCode name } nhsEnglandRegion { regionCode name }
    paediatricDiabetesUnit { pzCode } openUkNetwork { code name } londonBorough { gssCode name }
    country { code name } parent { odsCode name }";

const TRUSTS_SITES_PDUS: &str =
    "{ trusts { odsCode name active organisations { odsCode name postcode latitude longitude
    paediatricDiabetesUnit { pzCode primaryOrganisation { odsCode name } parent { odsCode name }
    paediatricDiabetesNetwork { pnCode name } } } } }";

/// A query `levels` fields deep (the leaf counts): `root`, then `even` and `odd` in turn.
fn walk(root: &str, even: &str, odd: &str, leaf: &str, levels: usize) -> String {
    let mut q = String::from(leaf);
    for depth in (2..levels).rev() {
        let field = if depth % 2 == 0 { even } else { odd };
        q = format!("{field} {{ {q} }}");
    }
    format!("{{ {root} {{ {q} }} }}")
}

/// `trust → organisations → trust → …`.
fn cyclic_walk(levels: usize) -> String {
    walk(
        "trust(odsCode: \"RVV\")",
        "organisations",
        "trust",
        "name",
        levels,
    )
}

/// `organisation → paediatricDiabetesUnit → primaryOrganisation → …`: no lists at all.
fn single_object_walk(levels: usize) -> String {
    walk(
        "organisation(odsCode: \"RVV01\")",
        "paediatricDiabetesUnit",
        "primaryOrganisation",
        "__typename",
        levels,
    )
}

fn aliased_roots(n: usize) -> String {
    let fields: Vec<String> = (0..n)
        .map(|i| format!("a{i}: organisation(odsCode: \"RVV01\") {{ name }}"))
        .collect();
    format!("{{ {} }}", fields.join(" "))
}

fn assert_too_complex(resp: &Value) {
    assert_eq!(
        error_code(resp).as_deref(),
        Some("QUERY_TOO_COMPLEX"),
        "expected QUERY_TOO_COMPLEX, got {resp}"
    );
    assert!(resp["data"].is_null(), "nothing may run: {resp}");
}

#[tokio::test]
async fn realistic_queries_pass() {
    let t = TestDb::seeded().await;
    let schema = t.schema();
    let tree = data(gql(&schema, WHOLE_TREE).await);
    assert_eq!(tree["nhsEnglandRegions"].as_array().map(Vec::len), Some(7));
    let all = data(gql(&schema, &format!("{{ organisations {{ {ALL_EDGES} }} }}")).await);
    assert_eq!(all["organisations"].as_array().map(Vec::len), Some(339));
    let trusts = data(gql(&schema, TRUSTS_SITES_PDUS).await);
    assert_eq!(trusts["trusts"].as_array().map(Vec::len), Some(242));
}

#[tokio::test]
async fn the_standard_introspection_queries_pass() {
    let t = TestDb::seeded().await;
    let schema = t.schema();
    // The classic query (7 levels of ofType, GraphiQL 1) and today's (9 levels, newer fields).
    for (depth, newer) in [(7, false), (9, false), (9, true)] {
        let resp = data(gql(&schema, &introspection_query(depth, newer)).await);
        let types = resp["__schema"]["types"].as_array().map(Vec::len);
        assert!(types.is_some_and(|n| n > 20), "typeDepth {depth}: {resp}");
        assert_eq!(resp["__schema"]["queryType"]["name"], "Query");
        assert_eq!(resp["__schema"]["mutationType"]["name"], "Mutation");
    }
}

#[tokio::test]
async fn abusive_queries_fail_before_touching_the_database() {
    let t = TestDb::seeded().await;
    let (conn, count) = t.counting().await;
    let schema = build_schema(conn);
    // A fragment that spreads the next one ten times, twelve deep: 10^12 fields expanded.
    let mut bomb = String::from("{ ...F0 }\n");
    for i in 0..12 {
        bomb.push_str(&format!("fragment F{i} on QueryRoot {{ "));
        for _ in 0..10 {
            bomb.push_str(&format!("...F{} ", i + 1));
        }
        bomb.push_str("}\n");
    }
    bomb.push_str("fragment F12 on QueryRoot { countries { name } }\n");
    let directives = format!(
        "{{ organisation(odsCode: \"RVV01\") {{ name {} }} }}",
        "@include(if: true) ".repeat(6)
    );
    let nested_fragments = format!(
        "{{ {} __typename {} }}",
        "... on QueryRoot { ".repeat(40),
        "}".repeat(40)
    );
    let cases = [
        ("16-level cyclic walk", cyclic_walk(16)),
        ("16-level walk without lists", single_object_walk(16)),
        ("1,000 aliased root fields", aliased_roots(1_000)),
        (
            "1,000 root fields without aliases",
            format!("{{ {} }}", "countries { name } ".repeat(1_000)),
        ),
        (
            "nested lists multiplying",
            "{ organisations { country { organisations { country { organisations { name } } } } } }"
                .to_string(),
        ),
        ("fragment bomb", bomb),
        ("six directives on a field", directives),
        ("40 nested inline fragments", nested_fragments),
    ];
    for (what, query) in cases {
        count.store(0, Ordering::SeqCst);
        let started = std::time::Instant::now();
        let resp = gql(&schema, &query).await;
        assert_eq!(
            error_code(&resp).as_deref(),
            Some("QUERY_TOO_COMPLEX"),
            "{what}: {resp}"
        );
        assert_too_complex(&resp);
        assert_eq!(count.load(Ordering::SeqCst), 0, "{what} ran SQL");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{what} took {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn limits_just_below_the_abuse_pass() {
    let t = TestDb::seeded().await;
    let schema = t.schema();
    // 15 levels is the most the default depth allows; 50 aliases the most aliases.
    let resp = gql(&schema, &single_object_walk(15)).await;
    assert!(resp.get("errors").is_none(), "{resp}");
    let resp = gql(&schema, &cyclic_walk(5)).await;
    assert!(resp.get("errors").is_none(), "{resp}");
    let resp = gql(&schema, &aliased_roots(30)).await;
    assert!(resp.get("errors").is_none(), "{resp}");
}

#[tokio::test]
async fn limits_are_configurable() {
    let t = TestDb::seeded().await;
    let strict = QueryLimits {
        max_depth: 3,
        max_complexity: 50,
        max_aliases: 1,
        max_root_fields: 2,
        ..QueryLimits::default()
    };
    let schema = build_schema_with_limits(t.db.clone(), &strict);
    assert_too_complex(&gql(&schema, WHOLE_TREE).await);
    assert_too_complex(&gql(&schema, "{ organisations { name } }").await);
    assert_too_complex(&gql(&schema, "{ a: countries { name } b: countries { name } }").await);
    assert_too_complex(
        &gql(
            &schema,
            "{ countries { name } londonBoroughs { name } nhsEnglandRegions { name } }",
        )
        .await,
    );
    let ok = gql(&schema, "{ organisations(limit: 5) { name } }").await;
    assert_eq!(data(ok)["organisations"].as_array().map(Vec::len), Some(5));
}

#[tokio::test]
async fn a_limit_argument_lowers_the_estimate() {
    let t = TestDb::seeded().await;
    let schema = build_schema_with_limits(
        t.db.clone(),
        &QueryLimits {
            max_complexity: 1_000,
            ..QueryLimits::default()
        },
    );
    let all_sites = format!("{{ organisations {{ {ALL_EDGES} }} }}");
    assert_too_complex(&gql(&schema, &all_sites).await);
    let few = format!("{{ organisations(limit: 20) {{ {ALL_EDGES} }} }}");
    assert_eq!(
        data(gql(&schema, &few).await)["organisations"]
            .as_array()
            .map(Vec::len),
        Some(20)
    );
    // Through a variable, too.
    let with_var = common::gql_vars(
        &schema,
        &format!("query($n: Int) {{ organisations(limit: $n) {{ {ALL_EDGES} }} }}"),
        serde_json::json!({"n": 20}),
    )
    .await;
    assert!(with_var.get("errors").is_none(), "{with_var}");
}

#[tokio::test]
async fn limits_apply_over_http() {
    let t = TestDb::seeded().await;
    let base = common::serve(&t).await;
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("{base}/graphql"))
        .json(&serde_json::json!({"query": aliased_roots(1_000)}))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    assert_too_complex(&body);
    let resp = client
        .post(format!("{base}/graphql"))
        .json(&serde_json::json!({"query": introspection_query(9, true)}))
        .send()
        .await
        .expect("request");
    let body: Value = resp.json().await.expect("json");
    assert!(body.get("errors").is_none(), "{body}");
}
