//! `schema.graphql` must be what `nhs-organisations schema` prints.
#[test]
fn committed_schema_is_current() {
    let generated = nhs_organisations::graphql::sdl();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    if committed != generated {
        if std::env::var("UPDATE_SCHEMA").is_ok() {
            std::fs::write(path, &generated).expect("write schema.graphql");
            return;
        }
        panic!("schema.graphql is stale: run `cargo run -- schema > schema.graphql` (or UPDATE_SCHEMA=1 cargo test --test it schema_file)");
    }
}

#[test]
fn every_type_and_field_is_documented() {
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
    let sdl = nhs_organisations::graphql::sdl();
    let doc = async_graphql::parser::parse_schema(&sdl).expect("the SDL parses");
    let mut undocumented = Vec::new();
    for def in &doc.definitions {
        let TypeSystemDefinition::Type(t) = def else {
            continue;
        };
        let t = &t.node;
        let name = t.name.node.as_str();
        if t.description.is_none() {
            undocumented.push(name.to_string());
        }
        let fields: Vec<(String, bool)> = match &t.kind {
            TypeKind::Object(o) => o
                .fields
                .iter()
                .map(|f| (f.node.name.node.to_string(), f.node.description.is_some()))
                .collect(),
            TypeKind::Interface(i) => i
                .fields
                .iter()
                .map(|f| (f.node.name.node.to_string(), f.node.description.is_some()))
                .collect(),
            TypeKind::InputObject(i) => i
                .fields
                .iter()
                .map(|f| (f.node.name.node.to_string(), f.node.description.is_some()))
                .collect(),
            TypeKind::Enum(e) => e
                .values
                .iter()
                .map(|v| (v.node.value.node.to_string(), v.node.description.is_some()))
                .collect(),
            _ => Vec::new(),
        };
        for (field, documented) in fields {
            if !documented {
                undocumented.push(format!("{name}.{field}"));
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "undocumented schema items: {undocumented:#?}"
    );
}
