//! A group with its members as a body written while its members are read, a page at a time
//! (ADR 0076): the same JSON, in the same key order, as rendering the whole group would give,
//! in memory bounded by a page whatever the group's size.

use axum::body::{Body, Bytes};
use futures::{stream, StreamExt};
use scim::projection::Selection;
use scim::schema::GROUP_RESOURCE;
use serde_json::{Map, Value};
use store::{MemberPages, Reference, StoreError};

use super::render;

/// Members read and written at a time: about 150 KB of JSON.
pub const MEMBER_PAGE: u32 = 1_000;

/// `head` is the group rendered and selected without its members; the members are rendered
/// and selected a page at a time, and placed where the whole rendering puts them, before `meta`.
pub fn body(base: String, mut head: Map<String, Value>, selection: Selection, pages: MemberPages) -> Body {
    let meta = head.shift_remove("meta");
    let opened = !head.is_empty();
    let mut start = serde_json::to_vec(&head).expect("JSON values serialise");
    start.pop(); // the closing brace: the members and meta follow
    let writer = Writer { base, selection, pages, meta, opened, listed: false };
    let rest = stream::unfold(Some(writer), |writer| async move {
        let mut writer = writer?;
        match writer.pages.next().await {
            Some(Ok(page)) => {
                let chunk = writer.page(&page);
                Some((Ok(chunk), Some(writer)))
            }
            Some(Err(error)) => {
                // The client sees the body cut short, never a complete-looking list.
                tracing::warn!(error = %error, "reading a group's members failed mid-response");
                Some((Err(error), None))
            }
            None => Some((Ok(writer.end()), None)),
        }
    });
    Body::from_stream(stream::once(async { Ok::<_, StoreError>(Bytes::from(start)) }).chain(rest))
}

struct Writer {
    base: String,
    selection: Selection,
    pages: MemberPages,
    meta: Option<Value>,
    /// Whether the object has a key already (the next one needs a comma).
    opened: bool,
    /// Whether `"members":[` has been written.
    listed: bool,
}

impl Writer {
    /// The members of `page` the selection keeps, each after its separator.
    fn page(&mut self, page: &[Reference]) -> Bytes {
        let members: Vec<Value> = page.iter().map(|r| render::reference(&self.base, r, "members")).collect();
        let mut selected = self.selection.apply(&GROUP_RESOURCE, Map::from_iter([("members".to_owned(), Value::Array(members))]));
        let Some(Value::Array(kept)) = selected.remove("members") else { return Bytes::new() };
        let mut out = Vec::new();
        for member in kept {
            if self.listed {
                out.push(b',');
            } else {
                out.extend_from_slice(self.key("members").as_bytes());
                out.push(b'[');
                self.listed = true;
            }
            serde_json::to_writer(&mut out, &member).expect("JSON values serialise");
        }
        Bytes::from(out)
    }

    /// What follows the last member: the list's end, `meta` and the object's end.
    fn end(&mut self) -> Bytes {
        let mut out = Vec::new();
        if self.listed {
            out.push(b']');
        }
        if let Some(meta) = self.meta.take() {
            out.extend_from_slice(self.key("meta").as_bytes());
            serde_json::to_writer(&mut out, &meta).expect("JSON values serialise");
        }
        out.push(b'}');
        Bytes::from(out)
    }

    /// `"name":`, after a comma unless it is the object's first key.
    fn key(&mut self, name: &str) -> String {
        let comma = if std::mem::replace(&mut self.opened, true) { "," } else { "" };
        format!("{comma}\"{name}\":")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::group::MemberKind;
    use domain::ResourceId;
    use scim::path::AttrPath;
    use serde_json::json;

    fn references(count: usize) -> Vec<Reference> {
        (0..count)
            .map(|i| Reference {
                id: ResourceId::from_uuid(uuid::Uuid::from_u128(i as u128 + 1)),
                kind: if i % 3 == 0 { MemberKind::Group } else { MemberKind::User },
                display: None,
            })
            .collect()
    }

    fn head() -> Map<String, Value> {
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g", "displayName": "G", "meta": {"resourceType": "Group"}})
            .as_object()
            .unwrap()
            .clone()
    }

    /// The streamed body for `members` in pages of `size`, as text.
    async fn streamed(selection: &Selection, members: &[Reference], size: usize) -> String {
        let pages: Vec<Result<Vec<Reference>, StoreError>> = members.chunks(size).map(|c| Ok(c.to_vec())).collect();
        let head = selection.apply(&GROUP_RESOURCE, head());
        let body = body("http://h/scim/v2/t".into(), head, selection.clone(), Box::pin(stream::iter(pages)));
        String::from_utf8(axum::body::to_bytes(body, usize::MAX).await.unwrap().to_vec()).unwrap()
    }

    /// The whole group rendered at once, selected, as text.
    fn whole(selection: &Selection, members: &[Reference]) -> String {
        let mut resource = head();
        let meta = resource.shift_remove("meta").unwrap();
        if !members.is_empty() {
            resource.insert("members".into(), members.iter().map(|r| render::reference("http://h/scim/v2/t", r, "members")).collect());
        }
        resource.insert("meta".into(), meta);
        serde_json::to_string(&selection.apply(&GROUP_RESOURCE, resource)).unwrap()
    }

    fn selection(attributes: &[&str], excluded: &[&str]) -> Selection {
        let paths = |list: &[&str]| list.iter().map(|p| AttrPath::parse(p).unwrap()).collect();
        Selection { attributes: paths(attributes), excluded: paths(excluded) }
    }

    #[tokio::test]
    async fn the_streamed_body_is_the_whole_rendering_byte_for_byte() {
        let selections = [
            selection(&[], &[]),
            selection(&["members.value"], &[]),
            selection(&["members"], &[]),
            selection(&[], &["members.type", "displayName"]),
            selection(&[], &["members.value", "members.$ref", "members.type"]),
        ];
        for selection in &selections {
            for (count, size) in [(0, 3), (1, 3), (3, 3), (7, 3), (7, 1), (7, 100)] {
                let members = references(count);
                assert_eq!(
                    streamed(selection, &members, size).await,
                    whole(selection, &members),
                    "{selection:?}, {count} in pages of {size}"
                );
            }
        }
    }
}
