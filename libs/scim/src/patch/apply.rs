//! Applying PATCH operations to a document (RFC 7644 §3.5.2.1–3), with the IdP dialects of
//! shared/design/idp-quirks.md: path-less values with dotted and URN keys, read-only `id` inside
//! a path-less value, value-filter paths that create the element they do not find, and member
//! removal by a list of values.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::batch;
use super::request::{PatchOp, PatchOperation, PatchRequest};
use crate::document::{normalize_attribute, normalize_element, Document};
use crate::filter::{CompValue, CompareOp, Filter, PatchPath};
use crate::limits;
use crate::path::AttrPath;
use crate::schema::{AttrType, AttributeDef, Mutability, ResourceType, SchemaDef};
use crate::text::folded;
use crate::ScimError;

/// How an operation treats attributes it cannot change: an explicit `path` is an error, a key in
/// a path-less value is skipped (Okta sends the read-only `id` there).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    Path,
    PathlessValue,
}

impl PatchRequest {
    /// Applies every operation to a copy of `document`; the result is validated as a whole.
    /// Any failure leaves nothing applied.
    pub fn apply(&self, document: &Document, resource: &'static ResourceType) -> Result<Document, ScimError> {
        let mut edited = document.as_map().clone();
        for (range, operation) in batch::runs(&self.operations, resource) {
            apply_operation(&mut edited, &operation, resource).map_err(|mut e| {
                e.detail = match range.len() {
                    1 => format!("operation {}: {}", range.start + 1, e.detail),
                    _ => format!("operations {}-{}: {}", range.start + 1, range.end, e.detail),
                };
                e
            })?;
        }
        let patched = Document::from_edited(edited, resource)?;
        self.limits.check_size(&patched)?;
        Ok(patched)
    }
}

fn apply_operation(doc: &mut Map<String, Value>, operation: &PatchOperation, resource: &ResourceType) -> Result<(), ScimError> {
    if let Some(extension) = operation.path.as_ref().and_then(|p| extension_named(p, resource)) {
        return apply_to_extension(doc, operation, extension, resource);
    }
    match (operation.path.as_ref(), operation.value.as_ref()) {
        (Some(path), value) => apply_at(doc, operation.op, path, value, resource, Origin::Path),
        (None, Some(Value::Object(values))) => apply_pathless(doc, operation.op, values, resource),
        // PatchOperation::parse refuses the other shapes.
        (None, _) => Err(ScimError::no_target("the operation has no path")),
    }
}

/// The extension a path names as a whole (`"path": "urn:…:enterprise:2.0:User"`), if any.
fn extension_named(path: &PatchPath, resource: &ResourceType) -> Option<&'static SchemaDef> {
    let schema = path.attr.schema.as_deref()?;
    if path.filter.is_some() || path.sub_attr.is_some() || path.attr.sub_attr.is_some() {
        return None;
    }
    resource.extension_by_urn(&format!("{schema}:{}", path.attr.name))
}

/// An operation on a whole extension: its value is an object of the extension's attributes.
fn apply_to_extension(
    doc: &mut Map<String, Value>,
    operation: &PatchOperation,
    extension: &SchemaDef,
    resource: &ResourceType,
) -> Result<(), ScimError> {
    match (operation.op, &operation.value) {
        (PatchOp::Remove, _) => {
            doc.remove(extension.id);
            Ok(())
        }
        (op, Some(Value::Object(attrs))) => {
            if op == PatchOp::Replace {
                doc.remove(extension.id);
            }
            let values = Map::from_iter([(extension.id.to_owned(), Value::Object(attrs.clone()))]);
            apply_pathless(doc, op, &values, resource)
        }
        _ => Err(ScimError::invalid_value(format!("'{}' takes an object of its attributes", extension.id))),
    }
}

/// `{"op":"replace","value":{"displayName":"D","name.givenName":"G","urn:…:User:employeeNumber":"E"}}`
fn apply_pathless(
    doc: &mut Map<String, Value>,
    op: PatchOp,
    values: &Map<String, Value>,
    resource: &ResourceType,
) -> Result<(), ScimError> {
    for (key, value) in values {
        if let Some(schema) = resource.schema_by_urn(key) {
            // `"urn:…:enterprise:2.0:User": {"department": "R&D"}`
            let Value::Object(attrs) = value else {
                return Err(ScimError::invalid_value(format!("'{key}' must be an object")));
            };
            for (name, v) in attrs {
                let Ok(mut attr) = AttrPath::parse(name) else { continue };
                attr.schema = Some(schema.id.to_owned());
                apply_at(doc, op, &PatchPath { attr, filter: None, sub_attr: None }, Some(v), resource, Origin::PathlessValue)?;
            }
            continue;
        }
        let Ok(attr) = AttrPath::parse(key) else { continue };
        let path = PatchPath { attr, filter: None, sub_attr: None };
        apply_at(doc, op, &path, Some(value), resource, Origin::PathlessValue)?;
    }
    Ok(())
}

fn apply_at(
    doc: &mut Map<String, Value>,
    op: PatchOp,
    path: &PatchPath,
    value: Option<&Value>,
    resource: &ResourceType,
    origin: Origin,
) -> Result<(), ScimError> {
    let Some(resolved) = path.attr.resolve(resource) else {
        return match origin {
            Origin::Path => Err(ScimError::invalid_path(format!("'{}' is not an attribute of {}", path.attr, resource.name))),
            Origin::PathlessValue => Ok(()),
        };
    };
    let attr = resolved.attribute;
    let sub = match (&path.filter, &path.sub_attr) {
        (Some(_), Some(name)) => Some(
            attr.sub_attribute(name)
                .ok_or_else(|| ScimError::invalid_path(format!("'{name}' is not a sub-attribute of '{}'", attr.name)))?,
        ),
        _ => resolved.sub_attribute,
    };
    let target = sub.unwrap_or(attr);
    match (attr.mutability, target.mutability) {
        // The password is accepted and discarded: it is never stored.
        (Mutability::WriteOnly, _) | (_, Mutability::WriteOnly) => return Ok(()),
        (Mutability::ReadOnly, _) | (_, Mutability::ReadOnly) => {
            return match origin {
                Origin::Path => Err(ScimError::mutability(format!("'{path}' is read-only"))),
                Origin::PathlessValue => Ok(()),
            };
        }
        _ => {}
    }
    let container = match resolved.extension {
        None => &mut *doc,
        Some(ext) => {
            let entry = doc.entry(ext.id.to_owned()).or_insert_with(|| Value::Object(Map::new()));
            entry.as_object_mut().ok_or_else(|| ScimError::internal("extension is not an object"))?
        }
    };
    match &path.filter {
        Some(filter) => apply_filtered(container, op, attr, filter, sub, value)?,
        None => match sub {
            Some(sub) => apply_sub(container, op, attr, sub, value)?,
            None => apply_whole(container, op, attr, value)?,
        },
    }
    // Checked after every operation, so that a run of adds cannot grow a list without bound
    // before the document is validated.
    if let Some(values) = container.get(attr.name) {
        limits::check_value_count(attr.name, values)?;
    }
    if let Some(ext) = resolved.extension {
        if doc.get(ext.id).and_then(Value::as_object).is_some_and(Map::is_empty) {
            doc.remove(ext.id);
        }
    }
    Ok(())
}

/// An operation on a whole attribute: `"path":"members"`, `"path":"title"`, or a path-less key.
fn apply_whole(container: &mut Map<String, Value>, op: PatchOp, attr: &AttributeDef, value: Option<&Value>) -> Result<(), ScimError> {
    match op {
        PatchOp::Remove => match (attr.multi_valued, value) {
            // Entra: {"op":"Remove","path":"members","value":[{"value":"<id>"}]} removes those
            // members only, never the whole list.
            (true, Some(given)) => {
                let given = Selectors::of(attr, as_elements(given));
                retain_elements(container, attr, |element| !given.select(attr, element));
            }
            _ => {
                container.remove(attr.name);
            }
        },
        PatchOp::Add if attr.multi_valued => {
            let Some(Value::Array(new)) = normalize_attribute(attr, required(value)?)? else { return Ok(()) };
            let elements = elements_mut(container, attr);
            let mut index: HashMap<ElementKey, usize> = HashMap::with_capacity(elements.len());
            for (i, e) in elements.iter().enumerate() {
                if let Some(key) = element_key(attr, e) {
                    index.entry(key).or_insert(i);
                }
            }
            let mut primary = None;
            for element in new {
                let is_primary = element.get("primary") == Some(&Value::Bool(true));
                let key = element_key(attr, &element);
                let at = match key.as_ref().and_then(|k| index.get(k)) {
                    Some(&i) => {
                        merge_objects(&mut elements[i], element);
                        i
                    }
                    None => {
                        elements.push(element);
                        if let Some(key) = key {
                            index.insert(key, elements.len() - 1);
                        }
                        elements.len() - 1
                    }
                };
                if is_primary {
                    primary = Some(at);
                }
            }
            after_elements_changed(container, attr, primary);
        }
        PatchOp::Replace if attr.multi_valued => match normalize_attribute(attr, required(value)?)? {
            Some(v) => {
                container.insert(attr.name.to_owned(), v);
            }
            None => {
                container.remove(attr.name);
            }
        },
        PatchOp::Add | PatchOp::Replace => match normalize_attribute(attr, required(value)?)? {
            // RFC 7644 §3.5.2.3: sub-attributes not given in a complex value are left unchanged.
            Some(new) if attr.kind == AttrType::Complex => {
                let slot = container.entry(attr.name.to_owned()).or_insert_with(|| Value::Object(Map::new()));
                merge_objects(slot, new);
            }
            Some(new) => {
                container.insert(attr.name.to_owned(), new);
            }
            None if op == PatchOp::Replace => {
                container.remove(attr.name);
            }
            None => {}
        },
    }
    Ok(())
}

/// `name.givenName` (single-valued complex) or `emails.value` (every element of a multi-valued one).
fn apply_sub(
    container: &mut Map<String, Value>,
    op: PatchOp,
    attr: &AttributeDef,
    sub: &AttributeDef,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    if attr.multi_valued {
        if op == PatchOp::Remove && is_the_value(sub) {
            container.remove(attr.name);
            return Ok(());
        }
        let new = match op {
            PatchOp::Remove => None,
            _ => normalize_attribute(sub, required(value)?)?,
        };
        let elements = elements_mut(container, attr);
        if elements.is_empty() && new.is_some() {
            elements.push(Value::Object(Map::new()));
        }
        for element in elements.iter_mut() {
            set_field(element, sub.name, new.clone());
        }
        after_elements_changed(container, attr, None);
        return Ok(());
    }
    let new = match op {
        PatchOp::Remove => None,
        _ => normalize_attribute(sub, required(value)?)?,
    };
    let slot = container.entry(attr.name.to_owned()).or_insert_with(|| Value::Object(Map::new()));
    set_field(slot, sub.name, new);
    if slot.as_object().is_some_and(Map::is_empty) {
        container.remove(attr.name);
    }
    Ok(())
}

/// `members[value eq "x"]`, `emails[type eq "work"].value`.
fn apply_filtered(
    container: &mut Map<String, Value>,
    op: PatchOp,
    attr: &AttributeDef,
    filter: &Filter,
    sub: Option<&AttributeDef>,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    if !attr.multi_valued || attr.kind != AttrType::Complex {
        return Err(ScimError::invalid_path(format!("'{}' is not a multi-valued complex attribute", attr.name)));
    }
    if op == PatchOp::Remove {
        match sub {
            None => retain_elements(container, attr, |e| !filter.matches_element(e, attr)),
            Some(sub) if is_the_value(sub) => retain_elements(container, attr, |e| !filter.matches_element(e, attr)),
            Some(sub) => {
                for element in elements_mut(container, attr).iter_mut().filter(|e| filter.matches_element(e, attr)) {
                    set_field(element, sub.name, None);
                }
                after_elements_changed(container, attr, None);
            }
        }
        return Ok(());
    }
    let value = required(value)?;
    let new = match sub {
        Some(sub) => normalize_attribute(sub, value)?,
        None => normalize_element(attr, value)?,
    };
    let elements = elements_mut(container, attr);
    let mut matched: Vec<usize> = (0..elements.len()).filter(|&i| filter.matches_element(&elements[i], attr)).collect();
    let created = matched.is_empty();
    if created {
        // Entra ID: an add or replace on a filter path that matches nothing creates the element
        // the filter describes.
        let seed = element_from_filter(filter).ok_or_else(|| {
            ScimError::no_target(format!("no value of '{}' matches the filter, and the filter does not describe one to create", attr.name))
        })?;
        elements.push(seed);
        matched.push(elements.len() - 1);
    }
    for &i in &matched {
        let element = &mut elements[i];
        match sub {
            Some(sub) => {
                if sub.mutability == Mutability::Immutable && element.get(sub.name).is_some_and(|old| Some(old) != new.as_ref()) {
                    return Err(ScimError::mutability(format!("'{}.{}' is immutable", attr.name, sub.name)));
                }
                set_field(element, sub.name, new.clone());
            }
            None => match (&new, op) {
                // A created element keeps what the filter said of it (`type eq "work"`).
                (Some(new), op) if created || op == PatchOp::Add => merge_objects(element, new.clone()),
                (Some(new), _) => *element = new.clone(),
                (None, _) => {}
            },
        }
    }
    let primary = matched.first().copied().filter(|&i| elements.get(i).and_then(|e| e.get("primary")) == Some(&Value::Bool(true)));
    after_elements_changed(container, attr, primary);
    Ok(())
}

/// An element of a multi-valued attribute is its `value`: removing the value (Okta removes an
/// alias by `aliases[type eq "email"].value`) removes the element, not just the field, so no
/// value-less element (`{"type": "email"}`) is left behind.
fn is_the_value(sub: &AttributeDef) -> bool {
    sub.name == "value"
}

fn required(value: Option<&Value>) -> Result<&Value, ScimError> {
    value.ok_or_else(|| ScimError::invalid_syntax("the operation needs a 'value'"))
}

fn as_elements(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    }
}

fn elements_mut<'a>(container: &'a mut Map<String, Value>, attr: &AttributeDef) -> &'a mut Vec<Value> {
    let slot = container.entry(attr.name.to_owned()).or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    slot.as_array_mut().expect("made an array above")
}

fn retain_elements(container: &mut Map<String, Value>, attr: &AttributeDef, keep: impl Fn(&Value) -> bool) {
    if let Some(Value::Array(elements)) = container.get_mut(attr.name) {
        elements.retain(|e| keep(e));
    }
    after_elements_changed(container, attr, None);
}

/// Drops empty elements and an empty list, and keeps `primary: true` on one element at most:
/// the one just set, if any (RFC 7643 §2.4).
fn after_elements_changed(container: &mut Map<String, Value>, attr: &AttributeDef, new_primary: Option<usize>) {
    let Some(Value::Array(elements)) = container.get_mut(attr.name) else { return };
    if let Some(keep) = new_primary {
        for (i, element) in elements.iter_mut().enumerate() {
            if i != keep && element.get("primary") == Some(&Value::Bool(true)) {
                element["primary"] = Value::Bool(false);
            }
        }
    }
    elements.retain(|e| !e.as_object().is_some_and(Map::is_empty));
    if elements.is_empty() {
        container.remove(attr.name);
    }
}

fn set_field(element: &mut Value, name: &str, value: Option<Value>) {
    if !element.is_object() {
        *element = Value::Object(Map::new());
    }
    let fields = element.as_object_mut().expect("made an object above");
    match value {
        Some(v) => {
            fields.insert(name.to_owned(), v);
        }
        None => {
            fields.remove(name);
        }
    }
}

fn merge_objects(target: &mut Value, new: Value) {
    match (target.as_object_mut(), new) {
        (Some(fields), Value::Object(new_fields)) => fields.extend(new_fields),
        (_, new) => *target = new,
    }
}

/// The values given for removal (Entra: `[{"value": "<id>"}]`), looked up by their `value`.
struct Selectors<'a> {
    /// Given values with a `value`, by its key; each also holds whatever other fields it gave.
    by_value: HashMap<String, Vec<&'a Value>>,
    /// Given values without a `value` (`{"type": "work"}`): compared with every element.
    others: Vec<&'a Value>,
}

impl<'a> Selectors<'a> {
    fn of(attr: &AttributeDef, given: Vec<&'a Value>) -> Self {
        let mut selectors = Self { by_value: HashMap::new(), others: Vec::new() };
        for g in given {
            let value = match g {
                Value::Object(fields) => fields.iter().find(|(k, _)| k.eq_ignore_ascii_case("value")).map(|(_, v)| v),
                scalar => Some(scalar),
            };
            match value.filter(|v| !v.is_null()) {
                Some(v) => selectors.by_value.entry(text_key(attr, "value", v)).or_default().push(g),
                None => selectors.others.push(g),
            }
        }
        selectors
    }

    fn select(&self, attr: &AttributeDef, element: &Value) -> bool {
        let candidates = element.get("value").and_then(|v| self.by_value.get(&text_key(attr, "value", v)));
        candidates.into_iter().flatten().chain(&self.others).any(|g| selects(attr, g, element))
    }
}

/// Whether a value given for removal selects an existing element: every field given matches.
fn selects(attr: &AttributeDef, given: &Value, element: &Value) -> bool {
    let Value::Object(given) = given else {
        return element.get("value").is_some_and(|v| text_key(attr, "value", v) == text_key(attr, "value", given));
    };
    !given.is_empty()
        && given.iter().filter(|(_, v)| !v.is_null()).all(|(k, v)| {
            element
                .as_object()
                .and_then(|e| e.iter().find(|(ek, _)| ek.eq_ignore_ascii_case(k)))
                .is_some_and(|(_, ev)| text_key(attr, k, ev) == text_key(attr, k, v))
        })
}

/// What makes an added element one the attribute already has, to be merged into it rather
/// than appended: elements whose `value` is immutable (group members) are the same when their
/// values are; other elements with a `value` when value and type are (so an add that only sets
/// `primary` marks the existing email primary); elements without one only when equal. `None`:
/// an element that is the same as no other (an immutable-valued one without its value).
#[derive(PartialEq, Eq, Hash)]
enum ElementKey {
    Value(String),
    ValueAndType(String, Option<String>),
    Whole(String),
}

fn element_key(attr: &AttributeDef, element: &Value) -> Option<ElementKey> {
    let field = |name: &str| element.get(name).map(|v| text_key(attr, name, v));
    match attr.sub_attribute("value") {
        Some(v) if v.mutability == Mutability::Immutable => Some(ElementKey::Value(element.get("value")?.to_string())),
        Some(_) if element.get("value").is_some() => Some(ElementKey::ValueAndType(field("value")?, field("type"))),
        _ => Some(ElementKey::Whole(element.to_string())),
    }
}

/// A field's value as it compares: folded text unless the sub-attribute is case-exact, any
/// other JSON as its text.
fn text_key(attr: &AttributeDef, sub: &str, value: &Value) -> String {
    match value.as_str() {
        Some(text) => {
            let case_exact = attr.sub_attribute(sub).is_some_and(|s| s.case_exact);
            format!("\"{}", folded(text, case_exact))
        }
        None => value.to_string(),
    }
}

/// The element an equality filter describes: `type eq "work"` → `{"type": "work"}`.
fn element_from_filter(filter: &Filter) -> Option<Value> {
    fn collect(filter: &Filter, out: &mut Map<String, Value>) -> bool {
        match filter {
            Filter::Compare { path, op: CompareOp::Eq, value } if path.sub_attr.is_none() && path.schema.is_none() => {
                let v = match value {
                    CompValue::String(s) => Value::String(s.clone()),
                    CompValue::Bool(b) => Value::Bool(*b),
                    CompValue::Number(n) => Value::Number(n.clone()),
                    CompValue::Null => return false,
                };
                out.insert(path.name.clone(), v);
                true
            }
            Filter::And(a, b) => collect(a, out) && collect(b, out),
            _ => false,
        }
    }
    let mut fields = Map::new();
    collect(filter, &mut fields).then_some(Value::Object(fields))
}
