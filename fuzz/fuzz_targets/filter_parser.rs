//! Any text: the filter parser answers Ok or a 400 `invalidFilter`, never panics; a filter it
//! accepts prints as text that parses back to the same tree, and validating it, checking it
//! against the limits and evaluating it on a user are total too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim::filter::Filter;
use scim::schema::USER_RESOURCE;
use serde_json::json;

fuzz_target!(|text: &str| {
    let filter = match Filter::parse(text) {
        Ok(filter) => filter,
        Err(e) => {
            assert_eq!(e.status, 400, "{e}");
            return;
        }
    };
    let printed = filter.to_string();
    assert_eq!(Filter::parse(&printed).as_ref(), Ok(&filter), "{text:?} printed as {printed:?}");
    if filter.validate(&USER_RESOURCE).is_ok() && scim::limits::check_filter(&filter, &USER_RESOURCE).is_ok() {
        let user = json!({"userName": "Bjensen", "emails": [{"value": "b@x.io", "type": "work"}], "active": true});
        let _ = filter.matches(&user, &USER_RESOURCE);
    }
});
