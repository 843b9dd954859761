//! Query limits: document-shape checks that run before validation (depth, aliases, top-level
//! fields, selections with fragments expanded), and the list weights of the complexity estimate.
//!
//! async-graphql's own depth and complexity checks walk fragments inline, once per use, so a
//! small document that spreads fragments inside fragments can cost exponential time to
//! validate. The counts here memoise each fragment and refuse such documents first.
use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensionValues, Name, Positioned, Request, ServerError, ServerResult};

use crate::config::QueryLimits;
use crate::errors::ErrorCode;

/// Upper estimates of list lengths, used as multipliers by the complexity estimate. They are a
/// little above the largest list of each kind in the bundled data, so the estimate is roughly
/// the most values a response can hold.
pub mod weight {
    /// Every site (root list, sites of a country).
    pub const ALL_SITES: usize = 400;
    /// Every trust.
    pub const ALL_TRUSTS: usize = 300;
    /// Every Paediatric Diabetes Unit.
    pub const ALL_UNITS: usize = 200;
    /// Every ICB.
    pub const ALL_ICBS: usize = 50;
    /// Every London borough.
    pub const ALL_BOROUGHS: usize = 40;
    /// National lists of networks (OPEN UK, diabetes).
    pub const NATIONAL: usize = 20;
    /// The shortest national lists: NHS England regions, Local Health Boards, countries.
    pub const SHORT_NATIONAL: usize = 10;
    /// Sites of one NHS England region.
    pub const REGION_SITES: usize = 100;
    /// Sites of one OPEN UK network.
    pub const NETWORK_SITES: usize = 50;
    /// Units of one diabetes network.
    pub const NETWORK_UNITS: usize = 40;
    /// Sites of one ICB.
    pub const ICB_SITES: usize = 30;
    /// Trusts running the sites of one ICB.
    pub const ICB_TRUSTS: usize = 20;
    /// ICBs of one region.
    pub const REGION_ICBS: usize = 15;
    /// Sites of one trust, board, unit or borough.
    pub const FEW_SITES: usize = 10;
}

/// A single field's estimate never exceeds this, so sums cannot overflow.
const COMPLEXITY_CAP: usize = 1 << 40;

/// Cost of a list field: its expected length (at most `limit` when given) times the cost of
/// one element, plus one for the field itself.
pub fn list_cost(expected_len: usize, limit: Option<i32>, child_complexity: usize) -> usize {
    let len = match limit {
        Some(l) => expected_len.min(usize::try_from(l).unwrap_or(0)),
        None => expected_len,
    };
    len.saturating_mul(child_complexity)
        .saturating_add(1)
        .min(COMPLEXITY_CAP)
}

/// Checks a document's shape before async-graphql validates it, and returns it parsed.
pub fn check_document<'r>(
    request: &'r mut Request,
    limits: &QueryLimits,
) -> ServerResult<&'r ExecutableDocument> {
    // The parser recurses on nested values without a limit: look at the text first.
    check_nesting(&request.query)?;
    // Parse once here; async-graphql reuses the parsed document.
    let doc = request.parsed_query()?;
    check_directives(doc, limits.max_directives)?;
    let shape = document_shape(doc, limits.max_recursion)?;
    check(&shape, limits)?;
    Ok(doc)
}

/// Deepest nesting of brackets (`{`, `[`, `(`) the query text may have, outside strings and
/// comments. The parser recurses once per level and overflows the stack at about 1,800; real
/// queries (the introspection query included) stay under 20.
pub const MAX_TEXT_NESTING: usize = 64;

/// Most directives in one document, wherever they are.
pub const MAX_DOCUMENT_DIRECTIVES: usize = 100;

/// Refuses text nested deeper than `MAX_TEXT_NESTING`, before anything parses it. Linear in
/// the text and never recursive.
pub fn check_nesting(query: &str) -> ServerResult<()> {
    let b = query.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' => {
                while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if b[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < b.len() && !b[i..].starts_with(b"\"\"\"") {
                    // `\"""` is an escaped delimiter inside a block string.
                    i += if b[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > MAX_TEXT_NESTING {
                    return Err(too_complex(format!(
                        "The query nests brackets more than {MAX_TEXT_NESTING} deep; flatten its lists and objects."
                    )));
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Counts every directive of a document: on operations, variables, fragments, fields, spreads
/// and inline fragments, used or not (each one can cost a validation error).
fn check_directives(doc: &ExecutableDocument, max_on_one: usize) -> ServerResult<()> {
    let mut count = DirectiveCount::default();
    for (_, op) in doc.operations.iter() {
        count.add(op.node.directives.len());
        for v in &op.node.variable_definitions {
            count.add(v.node.directives.len());
        }
        count.selection_set(&op.node.selection_set);
    }
    for fragment in doc.fragments.values() {
        count.add(fragment.node.directives.len());
        count.selection_set(&fragment.node.selection_set);
    }
    if count.most_on_one > max_on_one {
        return Err(too_complex(format!(
            "{} directives on one field, operation or fragment; at most {max_on_one} are allowed.",
            count.most_on_one
        )));
    }
    if count.total > MAX_DOCUMENT_DIRECTIVES {
        return Err(too_complex(format!(
            "The query has {} directives; at most {MAX_DOCUMENT_DIRECTIVES} are allowed.",
            count.total
        )));
    }
    Ok(())
}

#[derive(Default)]
struct DirectiveCount {
    total: usize,
    most_on_one: usize,
}

impl DirectiveCount {
    fn add(&mut self, n: usize) {
        self.total = self.total.saturating_add(n);
        self.most_on_one = self.most_on_one.max(n);
    }

    /// Recursion is bounded: the text is at most `MAX_TEXT_NESTING` deep.
    fn selection_set(&mut self, set: &Positioned<SelectionSet>) {
        for item in &set.node.items {
            match &item.node {
                Selection::Field(f) => {
                    self.add(f.node.directives.len());
                    self.selection_set(&f.node.selection_set);
                }
                Selection::InlineFragment(f) => {
                    self.add(f.node.directives.len());
                    self.selection_set(&f.node.selection_set);
                }
                Selection::FragmentSpread(f) => self.add(f.node.directives.len()),
            }
        }
    }
}

/// Counts over a document, with every fragment counted at each place it is spread.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// Fields, fragment spreads and inline fragments.
    pub selections: usize,
    /// Fields with an alias.
    pub aliases: usize,
    /// Fields at the top level of operations.
    pub root_fields: usize,
    /// Deepest field nesting. Unlike async-graphql's count this includes `__typename`, so a
    /// walk ending in `__typename` is as deep as one ending in `name`.
    pub depth: usize,
}

impl Shape {
    /// Adds the counts of selections that sit beside these ones.
    fn add(&mut self, other: Shape) {
        self.selections = self.selections.saturating_add(other.selections);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.root_fields = self.root_fields.saturating_add(other.root_fields);
        self.depth = self.depth.max(other.depth);
    }
}

/// A QUERY_TOO_COMPLEX error.
pub fn too_complex(message: String) -> ServerError {
    let mut err = ServerError::new(message, None);
    let mut ext = ErrorExtensionValues::default();
    ext.set("code", ErrorCode::QueryTooComplex.as_str());
    err.extensions = Some(ext);
    err
}

fn check(shape: &Shape, limits: &QueryLimits) -> ServerResult<()> {
    let over = |what: &str, n: usize, max: usize| {
        too_complex(format!(
            "The query has {n} {what}; at most {max} are allowed. Split it into smaller requests."
        ))
    };
    if shape.depth > limits.max_depth {
        return Err(too_complex(format!(
            "The query is nested {} fields deep; at most {} are allowed. Ask for less in one request.",
            shape.depth, limits.max_depth
        )));
    }
    if shape.aliases > limits.max_aliases {
        return Err(over("aliased fields", shape.aliases, limits.max_aliases));
    }
    if shape.root_fields > limits.max_root_fields {
        return Err(over(
            "top-level fields",
            shape.root_fields,
            limits.max_root_fields,
        ));
    }
    if shape.selections > limits.max_fields {
        return Err(over(
            "selections (counting fragments where they are used)",
            shape.selections,
            limits.max_fields,
        ));
    }
    Ok(())
}

/// Measures a document in time linear in its size: each fragment is measured once.
pub fn document_shape(doc: &ExecutableDocument, max_nesting: usize) -> ServerResult<Shape> {
    let mut walker = Walker {
        doc,
        max_nesting,
        memo: HashMap::new(),
    };
    let mut total = Shape::default();
    for (_, op) in doc.operations.iter() {
        total.add(walker.selection_set(&op.node.selection_set, 0, true)?);
    }
    Ok(total)
}

struct Walker<'a> {
    doc: &'a ExecutableDocument,
    max_nesting: usize,
    /// Shape of each fragment, as nested and as top-level selections; `None` while it is being
    /// measured (a cycle, which validation reports later).
    memo: HashMap<(&'a Name, bool), Option<Shape>>,
}

impl<'a> Walker<'a> {
    fn selection_set(
        &mut self,
        set: &'a Positioned<SelectionSet>,
        nesting: usize,
        at_root: bool,
    ) -> ServerResult<Shape> {
        if nesting > self.max_nesting {
            return Err(too_complex(format!(
                "The query is nested too deep: more than {} levels of selections and fragments.",
                self.max_nesting
            )));
        }
        let mut shape = Shape::default();
        for item in &set.node.items {
            shape.selections = shape.selections.saturating_add(1);
            match &item.node {
                Selection::Field(field) => {
                    if field.node.alias.is_some() {
                        shape.aliases = shape.aliases.saturating_add(1);
                    }
                    if at_root {
                        shape.root_fields = shape.root_fields.saturating_add(1);
                    }
                    let mut below = Shape::default();
                    if !field.node.selection_set.node.items.is_empty() {
                        below =
                            self.selection_set(&field.node.selection_set, nesting + 1, false)?;
                    }
                    below.depth += 1;
                    shape.add(below);
                }
                Selection::InlineFragment(inline) => {
                    shape.add(self.selection_set(
                        &inline.node.selection_set,
                        nesting + 1,
                        at_root,
                    )?);
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    shape.add(self.fragment(name, nesting + 1, at_root)?);
                }
            }
        }
        Ok(shape)
    }

    fn fragment(&mut self, name: &'a Name, nesting: usize, at_root: bool) -> ServerResult<Shape> {
        if let Some(known) = self.memo.get(&(name, at_root)) {
            return Ok(known.unwrap_or_default());
        }
        let Some(fragment) = self.doc.fragments.get(name) else {
            // Unknown fragments are reported by validation.
            return Ok(Shape::default());
        };
        self.memo.insert((name, at_root), None);
        let shape = self.selection_set(&fragment.node.selection_set, nesting, at_root)?;
        self.memo.insert((name, at_root), Some(shape));
        Ok(shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(q: &str) -> ServerResult<Shape> {
        let doc = async_graphql::parser::parse_query(q)
            .map_err(|e| ServerError::new(e.to_string(), None))?;
        document_shape(&doc, 32)
    }

    #[test]
    fn counts_fields_aliases_and_roots_through_fragments() {
        let s = shape("{ a: trust(odsCode: \"RVV\") { ...T } b: trust(odsCode: \"RWR\") { ...T } } fragment T on Trust { x: name odsCode }")
            .expect("shape");
        // 2 roots + 2 spreads + 2 × (2 fields)
        assert_eq!(s.root_fields, 2);
        assert_eq!(s.depth, 2);
        assert_eq!(s.aliases, 4);
        assert_eq!(s.selections, 8);
    }

    #[test]
    fn a_fragment_bomb_is_measured_quickly_and_refused() {
        // Each fragment spreads the next ten times: 10^12 selections once expanded.
        let mut q = String::from("{ ...F0 }\n");
        for i in 0..12 {
            q.push_str(&format!("fragment F{i} on Query {{ "));
            for _ in 0..10 {
                q.push_str(&format!("...F{} ", i + 1));
            }
            q.push_str("}\n");
        }
        q.push_str("fragment F12 on Query { __typename }\n");
        let started = std::time::Instant::now();
        let s = shape(&q).expect("shape");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert!(s.selections > 1_000_000_000_000);
        assert!(check(&s, &QueryLimits::default()).is_err());
    }

    #[test]
    fn cyclic_fragments_do_not_loop() {
        assert!(
            shape("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }").is_ok()
        );
    }

    #[test]
    fn nesting_is_counted_outside_strings_and_comments() {
        let deep = |n: usize| {
            format!(
                "{{ countries(x: {}1{}) {{ code }} }}",
                "[".repeat(n),
                "]".repeat(n)
            )
        };
        assert!(check_nesting(&deep(60)).is_ok());
        assert!(check_nesting(&deep(64)).is_err());
        assert!(check_nesting(&deep(100_000)).is_err());
        let hidden = format!(
            "{{ a(s: \"{0}\\\" {0}\", b: \"\"\"{0} \\\"\"\" {0}\"\"\") # {0}\n{{ x }} }}",
            "[".repeat(100)
        );
        assert!(check_nesting(&hidden).is_ok(), "{hidden}");
        assert!(check_nesting(&format!("{{ # x\n {} }}", "{".repeat(65))).is_err());
    }

    #[test]
    fn directives_are_counted_everywhere() {
        let doc = |q: &str| async_graphql::parser::parse_query(q).expect("parses");
        let on_op = format!("query Q {} {{ a }}", "@a ".repeat(6));
        assert!(check_directives(&doc(&on_op), 5).is_err());
        let on_fragment = format!("{{ a }} fragment F on Query {} {{ a }}", "@a ".repeat(6));
        assert!(check_directives(&doc(&on_fragment), 5).is_err());
        let spread: String = (0..101).map(|i| format!("a{i}: a @b ")).collect();
        assert!(check_directives(&doc(&format!("{{ {spread} }}")), 5).is_err());
        assert!(check_directives(&doc("query Q @a { a @b @c { b @d } }"), 5).is_ok());
    }

    #[test]
    fn list_cost_respects_limit_and_never_overflows() {
        assert_eq!(list_cost(400, None, 2), 801);
        assert_eq!(list_cost(400, Some(5), 2), 11);
        assert_eq!(list_cost(400, Some(10_000), 2), 801);
        assert_eq!(list_cost(400, Some(-3), 2), 1);
        assert_eq!(list_cost(400, None, usize::MAX), COMPLEXITY_CAP);
    }
}
