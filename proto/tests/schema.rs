//! The JSON Schema (`proto/schema/muster-event.schema.json`) against the
//! codec it describes.
//!
//! No JSON Schema validator crate is in the workspace, so this file carries
//! a small one, by hand, over `serde_json::Value`. It knows exactly the
//! keywords the schema uses and panics on any other, so the schema cannot
//! grow a rule that this check silently skips. `pattern` is evaluated by a
//! matcher for the small regular-expression subset the schema's patterns
//! use; `format` is an annotation in draft 2020-12 and is not checked.
//! `maxLength` counts characters, as JSON Schema does (Muster counts UTF-8
//! bytes; the cases below pin that difference).
//!
//! The checks:
//! - the schema lists exactly the types of `EventBody::TYPES`;
//! - every golden line's `data` keys are among its type's `properties`,
//!   and every `required` key is present;
//! - every golden line is valid against the whole schema;
//! - for every way of dropping, nulling or adding a field (or emptying a
//!   list) in a golden line, the schema and the codec (both decoding
//!   stages) give the same verdict;
//! - a table of limit cases, including the documented differences.

use muster_proto::cloudevents;
use muster_proto::validate::validate;
use muster_proto::wire::EventBody;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn proto_file(relative: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn schema() -> Value {
    serde_json::from_str(&proto_file("schema/muster-event.schema.json")).expect("the schema is JSON")
}

fn golden_lines() -> Vec<Value> {
    proto_file("golden/events.jsonl")
        .lines()
        .map(|line| serde_json::from_str(line).expect("golden lines are JSON"))
        .collect()
}

/// The schema of `data` for one event type, found the way a validator
/// finds it: the `allOf` entry whose `if` names the type, then its `$ref`.
fn data_schema<'a>(schema: &'a Value, type_name: &str) -> &'a Value {
    let branch = schema["allOf"]
        .as_array()
        .expect("allOf")
        .iter()
        .find(|b| b["if"]["properties"]["type"]["const"] == type_name)
        .unwrap_or_else(|| panic!("no allOf branch for {type_name}"));
    resolve(schema, &branch["then"]["properties"]["data"])
}

fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("only local $refs");
            resolve(root, root.pointer(pointer).unwrap_or_else(|| panic!("dangling $ref {reference}")))
        }
        None => node,
    }
}

// ---- a regular-expression subset: ^ $ anchors, literals, \uXXXX, [...], [^...], (a|b), * + {n} ----

#[derive(Debug)]
enum Atom {
    Char(char),
    Class { negated: bool, ranges: Vec<(char, char)> },
    Group(Vec<Vec<(Atom, usize, Option<usize>)>>),
}

type Sequence = Vec<(Atom, usize, Option<usize>)>;

struct Parser<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl Parser<'_> {
    fn escaped(&mut self) -> char {
        match self.chars.next() {
            Some('u') => {
                let hex: String = (0..4).map(|_| self.chars.next().expect("\\u needs four digits")).collect();
                char::from_u32(u32::from_str_radix(&hex, 16).expect("hex")).expect("a scalar value")
            }
            Some(c) if !c.is_ascii_alphanumeric() => c,
            other => panic!("escape \\{other:?} is outside the subset this test understands"),
        }
    }

    fn class(&mut self) -> Atom {
        let negated = self.chars.next_if_eq(&'^').is_some();
        let mut ranges = Vec::new();
        loop {
            let low = match self.chars.next().expect("unclosed [") {
                ']' => return Atom::Class { negated, ranges },
                '\\' => self.escaped(),
                c => c,
            };
            let high = if self.chars.next_if_eq(&'-').is_some() {
                match self.chars.next().expect("unclosed range") {
                    '\\' => self.escaped(),
                    c => c,
                }
            } else {
                low
            };
            ranges.push((low, high));
        }
    }

    fn number(&mut self) -> usize {
        let mut digits = String::new();
        while let Some(c) = self.chars.next_if(char::is_ascii_digit) {
            digits.push(c);
        }
        digits.parse().expect("a repetition count")
    }

    fn quantifier(&mut self) -> (usize, Option<usize>) {
        let bounds = match self.chars.peek() {
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('{') => {
                self.chars.next();
                let n = self.number();
                assert_eq!(self.chars.peek(), Some(&'}'), "only {{n}} repetitions are in the subset");
                (n, Some(n))
            }
            _ => return (1, Some(1)),
        };
        self.chars.next();
        bounds
    }

    /// Alternatives up to a `)` or the end.
    fn alternatives(&mut self) -> Vec<Sequence> {
        let mut alternatives = vec![Vec::new()];
        while let Some(&c) = self.chars.peek() {
            if c == ')' {
                break;
            }
            self.chars.next();
            let atom = match c {
                '|' => {
                    alternatives.push(Vec::new());
                    continue;
                }
                '[' => self.class(),
                '(' => {
                    let group = self.alternatives();
                    assert_eq!(self.chars.next(), Some(')'), "unclosed (");
                    Atom::Group(group)
                }
                '\\' => Atom::Char(self.escaped()),
                '.' | '^' | '?' | '*' | '+' | '{' => panic!("'{c}' here is outside the subset this test understands"),
                c => Atom::Char(c),
            };
            let (min, max) = self.quantifier();
            alternatives.last_mut().unwrap().push((atom, min, max));
        }
        alternatives
    }
}

/// A pattern anchored at both ends, as every pattern in the schema is.
fn full_match(pattern: &str, text: &str) -> bool {
    let body = pattern.strip_prefix('^').and_then(|p| p.strip_suffix('$')).expect("schema patterns are anchored ^…$");
    let mut parser = Parser { chars: body.chars().peekable() };
    let alternatives = parser.alternatives();
    assert!(parser.chars.next().is_none(), "pattern {pattern} not fully parsed");
    let text: Vec<char> = text.chars().collect();
    ends_of_alternatives(&alternatives, &text, 0).contains(&text.len())
}

fn ends_of_alternatives(alternatives: &[Sequence], text: &[char], start: usize) -> BTreeSet<usize> {
    alternatives.iter().flat_map(|s| ends_of_sequence(s, text, start)).collect()
}

/// Every position a match of `sequence` starting at `start` can end at: a
/// set of positions rather than backtracking, so no pattern is slow.
fn ends_of_sequence(sequence: &[(Atom, usize, Option<usize>)], text: &[char], start: usize) -> BTreeSet<usize> {
    let mut positions = BTreeSet::from([start]);
    for (atom, min, max) in sequence {
        let mut reached = if *min == 0 { positions.clone() } else { BTreeSet::new() };
        let mut frontier = positions;
        let mut count = 0;
        while !frontier.is_empty() && max.is_none_or(|m| count < m) {
            count += 1;
            frontier = frontier.iter().flat_map(|&p| ends_of_atom(atom, text, p)).collect();
            if count >= *min {
                let before = reached.len();
                reached.extend(frontier.iter().copied());
                // An unbounded repetition stops once it reaches nothing new.
                if max.is_none() && reached.len() == before && count > *min {
                    break;
                }
            }
        }
        positions = reached;
    }
    positions
}

fn ends_of_atom(atom: &Atom, text: &[char], at: usize) -> BTreeSet<usize> {
    match atom {
        Atom::Group(alternatives) => ends_of_alternatives(alternatives, text, at),
        _ if at >= text.len() => BTreeSet::new(),
        Atom::Char(c) => (text[at] == *c).then_some(at + 1).into_iter().collect(),
        Atom::Class { negated, ranges } => {
            let inside = ranges.iter().any(|(low, high)| (*low..=*high).contains(&text[at]));
            (inside != *negated).then_some(at + 1).into_iter().collect()
        }
    }
}

// ---- a JSON Schema subset: the keywords muster-event.schema.json uses ----

/// Keywords that carry no assertion (annotations and containers).
const ANNOTATIONS: [&str; 7] = ["$schema", "$id", "$defs", "$comment", "title", "description", "format"];

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        // JSON Schema: any number with a zero fractional part, 12.0 too.
        "integer" => value.as_f64().is_some_and(|n| n.fract() == 0.0),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        other => panic!("unknown type {other}"),
    }
}

struct Validator<'a> {
    root: &'a Value,
}

impl Validator<'_> {
    fn is_valid(&self, node: &Value, value: &Value) -> bool {
        let mut errors = Vec::new();
        self.check(node, value, "", &mut errors);
        errors.is_empty()
    }

    fn check(&self, node: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let Value::Object(keywords) = node else { panic!("schema node at {at} is not an object") };
        let mut fail = |what: String| errors.push(format!("{at}: {what}"));
        let mut nested = Vec::new();
        for (keyword, argument) in keywords {
            match keyword.as_str() {
                k if ANNOTATIONS.contains(&k) => {}
                "$ref" => nested.push((resolve(self.root, node), value, at.to_owned())),
                "type" => {
                    let names: Vec<&str> = match argument {
                        Value::String(s) => vec![s],
                        Value::Array(a) => a.iter().map(|t| t.as_str().expect("type names")).collect(),
                        _ => panic!("bad type"),
                    };
                    if !names.iter().any(|n| type_matches(n, value)) {
                        fail(format!("{value} is not {names:?}"));
                    }
                }
                "const" if argument != value => fail(format!("{value} is not {argument}")),
                "enum" if !argument.as_array().unwrap().contains(value) => {
                    fail(format!("{value} is not one of {argument}"))
                }
                "const" | "enum" => {}
                "properties" => {
                    if let Value::Object(object) = value {
                        for (key, sub) in argument.as_object().unwrap() {
                            if let Some(v) = object.get(key) {
                                nested.push((sub, v, format!("{at}/{key}")));
                            }
                        }
                    }
                }
                "required" => {
                    if let Value::Object(object) = value {
                        for key in argument.as_array().unwrap() {
                            if !object.contains_key(key.as_str().unwrap()) {
                                fail(format!("required {key} is missing"));
                            }
                        }
                    }
                }
                "additionalProperties" => {
                    assert_eq!(argument, &Value::Bool(false), "only additionalProperties: false is understood");
                    let known = keywords.get("properties").and_then(Value::as_object);
                    if let Value::Object(object) = value {
                        for key in object.keys().filter(|k| !known.is_some_and(|p| p.contains_key(*k))) {
                            fail(format!("unexpected property {key}"));
                        }
                    }
                }
                "items" => {
                    if let Value::Array(items) = value {
                        nested.extend(items.iter().enumerate().map(|(i, item)| (argument, item, format!("{at}/{i}"))));
                    }
                }
                "minItems" | "maxItems" => {
                    if let Value::Array(items) = value {
                        let limit = argument.as_u64().unwrap() as usize;
                        if (keyword == "minItems" && items.len() < limit)
                            || (keyword == "maxItems" && items.len() > limit)
                        {
                            fail(format!("{} items breaks {keyword} {limit}", items.len()));
                        }
                    }
                }
                "minLength" | "maxLength" => {
                    if let Value::String(text) = value {
                        let (length, limit) = (text.chars().count(), argument.as_u64().unwrap() as usize);
                        if (keyword == "minLength" && length < limit) || (keyword == "maxLength" && length > limit) {
                            fail(format!("{length} characters breaks {keyword} {limit}"));
                        }
                    }
                }
                "minimum" | "maximum" => {
                    if let Some(number) = value.as_f64() {
                        let limit = argument.as_f64().unwrap();
                        if (keyword == "minimum" && number < limit) || (keyword == "maximum" && number > limit) {
                            fail(format!("{number} breaks {keyword} {limit}"));
                        }
                    }
                }
                "pattern" => {
                    if let Value::String(text) = value {
                        if !full_match(argument.as_str().unwrap(), text) {
                            fail(format!("{value} does not match the pattern"));
                        }
                    }
                }
                "allOf" => nested.extend(argument.as_array().unwrap().iter().map(|sub| (sub, value, at.to_owned()))),
                "anyOf" | "oneOf" => {
                    let passing = argument.as_array().unwrap().iter().filter(|sub| self.is_valid(sub, value)).count();
                    if passing == 0 || (keyword == "oneOf" && passing > 1) {
                        fail(format!("{passing} branches of {keyword} hold"));
                    }
                }
                "if" => {
                    if self.is_valid(argument, value) {
                        nested.push((keywords.get("then").expect("if without then"), value, at.to_owned()));
                    }
                }
                "then" => assert!(keywords.contains_key("if"), "then without if"),
                other => panic!("keyword {other} at {at} is not understood by this check; teach it before using it"),
            }
        }
        for (sub, v, path) in nested {
            self.check(sub, v, &path, errors);
        }
    }
}

fn schema_errors(schema: &Value, line: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    Validator { root: schema }.check(schema, line, "", &mut errors);
    errors
}

fn codec_accepts(line: &Value) -> bool {
    let bytes = serde_json::to_vec(line).unwrap();
    cloudevents::decode_json(&bytes).and_then(|envelope| validate(&envelope)).is_ok()
}

// ---- the checks ----

#[test]
fn the_schema_is_json_and_lists_exactly_the_event_types() {
    let schema = schema();
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(schema["additionalProperties"], false);
    let listed: Vec<&str> =
        schema["properties"]["type"]["enum"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert_eq!(listed, EventBody::TYPES);
    let branches: Vec<&str> = schema["allOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["if"]["properties"]["type"]["const"].as_str().unwrap())
        .collect();
    assert_eq!(branches, EventBody::TYPES, "one if/then branch per type, in variant order");
    for type_name in EventBody::TYPES {
        let data = data_schema(&schema, type_name);
        assert_eq!(data["type"], "object", "{type_name}");
        assert_eq!(data["additionalProperties"], false, "{type_name}");
    }
}

#[test]
fn every_golden_data_object_fits_its_type_schema() {
    let schema = schema();
    for line in golden_lines() {
        let type_name = line["type"].as_str().unwrap();
        let data_schema = data_schema(&schema, type_name);
        let properties = data_schema["properties"].as_object().unwrap();
        let data = line["data"].as_object().unwrap();
        for key in data.keys() {
            assert!(properties.contains_key(key), "{type_name}: data key {key} is not in the schema");
        }
        for key in data_schema["required"].as_array().unwrap() {
            assert!(
                data.contains_key(key.as_str().unwrap()),
                "{type_name}: required {key} is missing from the golden line"
            );
        }
    }
}

#[test]
fn every_golden_line_is_valid_against_the_whole_schema() {
    let schema = schema();
    for line in golden_lines() {
        assert_eq!(schema_errors(&schema, &line), Vec::<String>::new(), "{line}");
    }
}

/// Every object inside `value`, as JSON pointers, `value` itself first.
fn object_pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            out.push(at.clone());
            for (key, v) in object {
                object_pointers(v, format!("{at}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                object_pointers(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Each golden line with one field dropped, nulled or added, or one list
/// emptied, at every depth.
fn mutations(line: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut pointers = Vec::new();
    object_pointers(line, String::new(), &mut pointers);
    for pointer in pointers {
        let keys: Vec<String> = line.pointer(&pointer).unwrap().as_object().unwrap().keys().cloned().collect();
        let mut edit = |what: String, change: &dyn Fn(&mut Map<String, Value>)| {
            let mut copy = line.clone();
            change(copy.pointer_mut(&pointer).unwrap().as_object_mut().unwrap());
            out.push((format!("{pointer}: {what}"), copy));
        };
        for key in &keys {
            edit(format!("drop {key}"), &|o| drop(o.remove(key)));
            edit(format!("null {key}"), &|o| drop(o.insert(key.clone(), Value::Null)));
            if line.pointer(&pointer).unwrap()[key].is_array() {
                edit(format!("empty list {key}"), &|o| drop(o.insert(key.clone(), json!([]))));
            }
        }
        edit("add an unknown key".into(), &|o| drop(o.insert("unexpected".into(), json!(1))));
    }
    for (attribute, text) in [
        ("time", "2015-04-01T09:30:00+08:00"),
        ("subject", "S-0101"),
        ("dataschema", "https://hr.nanhu.example/schema"),
    ] {
        let mut copy = line.clone();
        copy[attribute] = json!(text);
        out.push((format!("add {attribute}"), copy));
    }
    out
}

#[test]
fn the_schema_and_the_codec_agree_on_every_mutation_of_the_golden_lines() {
    let schema = schema();
    let mut checked = 0;
    for line in golden_lines() {
        for (what, mutated) in mutations(&line) {
            let errors = schema_errors(&schema, &mutated);
            assert_eq!(
                errors.is_empty(),
                codec_accepts(&mutated),
                "{} {what}: schema says {errors:?}; the codec disagrees\n{mutated}",
                line["id"]
            );
            checked += 1;
        }
    }
    assert!(checked > 300, "only {checked} mutations");
}

/// One case: golden line `index` changed by `change`; the schema's and
/// the codec's verdicts.
fn check(name: &str, index: usize, change: impl Fn(&mut Value), schema_accepts: bool, codec_accepts_it: bool) {
    let schema = schema();
    let mut line = golden_lines().swap_remove(index);
    change(&mut line);
    let errors = schema_errors(&schema, &line);
    assert_eq!(errors.is_empty(), schema_accepts, "{name}: schema {errors:?}");
    assert_eq!(codec_accepts(&line), codec_accepts_it, "{name}: codec");
}

const ESTABLISHED: usize = 0;
const MERGED_NEW: usize = 5;
const SPLIT: usize = 6;
const SECONDED: usize = 10;
const LEFT: usize = 12;

#[test]
fn the_schema_and_the_codec_agree_on_limits() {
    let ids = |n: usize| (0..n).map(|i| json!(format!("NH-U{i}"))).collect::<Vec<_>>();
    check("id at 128 bytes", ESTABLISHED, |l| l["id"] = json!("x".repeat(128)), true, true);
    check("id at 129 bytes", ESTABLISHED, |l| l["id"] = json!("x".repeat(129)), false, false);
    check("empty unit id", ESTABLISHED, |l| l["data"]["unit"] = json!(""), false, false);
    check("space in a unit id", ESTABLISHED, |l| l["data"]["unit"] = json!("NH SUP"), false, false);
    check("ideographic space in a unit id", ESTABLISHED, |l| l["data"]["unit"] = json!("NH\u{3000}SUP"), false, false);
    check("CJK unit id", ESTABLISHED, |l| l["data"]["unit"] = json!("南湖-督察"), true, true);
    check("name at 200 bytes", ESTABLISHED, |l| l["data"]["name"] = json!("n".repeat(200)), true, true);
    check("name at 201 bytes", ESTABLISHED, |l| l["data"]["name"] = json!("n".repeat(201)), false, false);
    check("blank name", ESTABLISHED, |l| l["data"]["name"] = json!("  "), false, false);
    check("tab in a name", ESTABLISHED, |l| l["data"]["name"] = json!("督察\t室"), false, false);
    check("quota 0", ESTABLISHED, |l| l["data"]["quota"] = json!(0), true, true);
    check("quota u32::MAX", ESTABLISHED, |l| l["data"]["quota"] = json!(u32::MAX), true, true);
    check("quota over u32", ESTABLISHED, |l| l["data"]["quota"] = json!(u64::from(u32::MAX) + 1), false, false);
    check("negative quota", ESTABLISHED, |l| l["data"]["quota"] = json!(-1), false, false);
    check("unknown category", ESTABLISHED, |l| l["data"]["category"] = json!("field"), false, false);
    check("note with a newline", ESTABLISHED, |l| l["note"] = json!("第一行\n第二行"), true, true);
    check("empty note", ESTABLISHED, |l| l["note"] = json!(""), true, true);
    check("note at 2001 bytes", ESTABLISHED, |l| l["note"] = json!("n".repeat(2001)), false, false);
    check("blank orderref", ESTABLISHED, |l| l["orderref"] = json!(" "), false, false);
    check("specversion 0.3", ESTABLISHED, |l| l["specversion"] = json!("0.3"), false, false);
    check("datacontenttype text/plain", ESTABLISHED, |l| l["datacontenttype"] = json!("text/plain"), false, false);
    check("unknown type", ESTABLISHED, |l| l["type"] = json!("org.muster.staff.promoted.v1"), false, false);
    check("data of another type", ESTABLISHED, |l| l["type"] = json!("org.muster.unit.renamed.v1"), false, false);
    check("effectivedate 1900-01-01", ESTABLISHED, |l| l["effectivedate"] = json!("1900-01-01"), true, true);
    check("effectivedate 2199-12-31", ESTABLISHED, |l| l["effectivedate"] = json!("2199-12-31"), true, true);
    check("effectivedate 1899-12-31", ESTABLISHED, |l| l["effectivedate"] = json!("1899-12-31"), false, false);
    check("effectivedate 2200-01-01", ESTABLISHED, |l| l["effectivedate"] = json!("2200-01-01"), false, false);
    check("effectivedate 2015-9-1", ESTABLISHED, |l| l["effectivedate"] = json!("2015-9-1"), false, false);
    check("until a timestamp", SECONDED, |l| l["data"]["until"] = json!("2015-12-31T00:00:00Z"), false, false);
    check("64 merge sources", MERGED_NEW, |l| l["data"]["sources"] = json!(ids(64)), true, true);
    check("65 merge sources", MERGED_NEW, |l| l["data"]["sources"] = json!(ids(65)), false, false);
    check("both merge targets", MERGED_NEW, |l| l["data"]["target"] = json!("NH-CMD"), false, false);
    check("64 split parts", SPLIT, |l| l["data"]["parts"] = json!(vec![l["data"]["parts"][0].clone(); 64]), true, true);
    check(
        "65 split parts",
        SPLIT,
        |l| l["data"]["parts"] = json!(vec![l["data"]["parts"][0].clone(); 65]),
        false,
        false,
    );
    check(
        "20000 allocations",
        SPLIT,
        |l| l["data"]["posted"] = json!(vec![l["data"]["posted"][0].clone(); 20_000]),
        true,
        true,
    );
    check(
        "20001 allocations",
        SPLIT,
        |l| l["data"]["children"] = json!(vec![l["data"]["children"][0].clone(); 20_001]),
        false,
        false,
    );
    check("blank reason", LEFT, |l| l["data"]["reason"] = json!("\n"), false, false);

    // Where the schema cannot say what Muster checks (see its $comment):
    // limits are UTF-8 bytes, JSON Schema counts characters; calendar
    // validity is more than a pattern; serde reads integers only when
    // written without a fraction.
    check(
        "name of 67 CJK characters (201 bytes)",
        ESTABLISHED,
        |l| l["data"]["name"] = json!("南".repeat(67)),
        true,
        false,
    );
    check("2015-02-29", ESTABLISHED, |l| l["effectivedate"] = json!("2015-02-29"), true, false);
    check("time that is not a string", ESTABLISHED, |l| l["time"] = json!(20150401), false, false);
    check("quota written 12.0", ESTABLISHED, |l| l["data"]["quota"] = json!(12.0), true, false);
}

#[test]
fn the_pattern_matcher_understands_the_schema_patterns() {
    let schema = schema();
    let pattern = |name: &str| schema["$defs"][name]["pattern"].as_str().unwrap().to_owned();
    let (id, name, note, date) = (pattern("id"), pattern("name"), pattern("note"), pattern("date"));
    for (pattern, text, expected) in [
        (&id, "NH-SUP", true),
        (&id, "南湖", true),
        (&id, "a b", false),
        (&id, "a\u{85}b", false),
        (&id, "", false),
        (&name, "退休", true),
        (&name, " x ", true),
        (&name, "a\nb", true),
        (&name, "\u{3000}", false),
        (&name, "a\u{7}b", false),
        (&note, "", true),
        (&note, "a\tb", false),
        (&date, "2015-12-31", true),
        (&date, "2015-13-01", false),
        (&date, "2015-12-310", false),
    ] {
        assert_eq!(full_match(pattern, text), expected, "{text:?} against {pattern}");
    }
}
