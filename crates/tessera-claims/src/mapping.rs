//! Reading a claim mapping's value out of the data it maps: the user's profile, claim
//! values, metadata, roles and organizations (the same [`UserProfile`] a script sees as
//! `context.user`), and the application's metadata.

use serde_json::{Map, Value, json};
use tessera_domain::{JsonPointer, MappingSource, has_value};

use crate::context::{ApplicationInfo, UserProfile};

/// What mappings read: the user (absent for machine tokens) and the application.
#[derive(Debug, Clone, Copy)]
pub struct MappingData<'a> {
    pub user: Option<&'a UserProfile>,
    pub application: &'a ApplicationInfo,
}

/// The value `source` yields, or `None` when there is none (a claim the user has no
/// value for, a pointer to nothing or to `null`, an organization the user is not a
/// member of). Lists are given even when empty: a user with no roles has `[]`.
pub fn value_of(source: &MappingSource, data: &MappingData<'_>) -> Option<Value> {
    match source {
        MappingSource::Claim(name) => data.user?.claims.get(name).filter(|v| has_value(Some(v))).cloned(),
        MappingSource::AppMetadata(pointer) => at(&data.user?.app_metadata, pointer),
        MappingSource::UserMetadata(pointer) => at(&data.user?.user_metadata, pointer),
        MappingSource::ApplicationMetadata(pointer) => at(&data.application.app_metadata, pointer),
        MappingSource::Roles => Some(json!(data.user?.roles)),
        MappingSource::OrganizationId(named) => {
            let user = data.user?;
            match named {
                Some(name) => user.organizations.iter().find(|o| o.name == name.as_str()).map(|o| json!(o.id)),
                None => Some(json!(user.organizations.iter().map(|o| &o.id).collect::<Vec<_>>())),
            }
        }
        MappingSource::OrganizationName(named) => {
            let user = data.user?;
            match named {
                Some(name) => user.organizations.iter().find(|o| o.name == name.as_str()).map(|o| json!(o.name)),
                None => Some(json!(user.organizations.iter().map(|o| &o.name).collect::<Vec<_>>())),
            }
        }
        MappingSource::OrganizationRoles(named) => {
            let user = data.user?;
            match named {
                Some(name) => user.organizations.iter().find(|o| o.name == name.as_str()).map(|o| json!(o.roles)),
                None => Some(Value::Object(
                    user.organizations.iter().map(|o| (o.name.clone(), json!(o.roles))).collect::<Map<_, _>>(),
                )),
            }
        }
        MappingSource::Script => None,
    }
}

/// RFC 6901: the value at `pointer`, unless it is missing or `null`.
fn at(document: &Value, pointer: &JsonPointer) -> Option<Value> {
    document.pointer(pointer.as_str()).filter(|v| !v.is_null()).cloned()
}

#[cfg(test)]
mod tests {
    use tessera_domain::OrganizationName;

    use super::*;
    use crate::context::OrganizationMembership;

    fn user() -> UserProfile {
        UserProfile {
            id: "u1".into(),
            username: "ada".into(),
            email: Some("ada@example.com".into()),
            email_verified: true,
            claims: json!({ "given_name": "Ada", "nickname": "  ", "badge": 7 }).as_object().cloned().unwrap(),
            roles: vec!["admin".into(), "editor".into()],
            organizations: vec![
                OrganizationMembership {
                    id: "o1".into(),
                    name: "acme".into(),
                    display_name: "Acme".into(),
                    roles: vec!["owner".into()],
                },
                OrganizationMembership {
                    id: "o2".into(),
                    name: "globex".into(),
                    display_name: "Globex".into(),
                    roles: vec![],
                },
            ],
            app_metadata: json!({ "plan": { "tier": "gold" }, "gone": null }),
            user_metadata: json!({ "theme": "dark" }),
            created_at: 1,
            updated_at: 2,
        }
    }

    fn app() -> ApplicationInfo {
        ApplicationInfo {
            id: "a1".into(),
            client_id: "web".into(),
            name: "Web".into(),
            app_type: "web".into(),
            app_metadata: json!({ "tenant": "t-9" }),
        }
    }

    fn pointer(p: &str) -> JsonPointer {
        JsonPointer::parse(p).unwrap()
    }

    fn org(name: &str) -> Option<OrganizationName> {
        Some(OrganizationName::parse(name).unwrap())
    }

    #[test]
    fn every_source_reads_its_value() {
        let (user, app) = (user(), app());
        let data = MappingData { user: Some(&user), application: &app };
        let cases = [
            (MappingSource::Claim("given_name".into()), Some(json!("Ada"))),
            (MappingSource::Claim("badge".into()), Some(json!(7))),
            (MappingSource::AppMetadata(pointer("/plan/tier")), Some(json!("gold"))),
            (MappingSource::AppMetadata(pointer("")), Some(user.app_metadata.clone())),
            (MappingSource::UserMetadata(pointer("/theme")), Some(json!("dark"))),
            (MappingSource::ApplicationMetadata(pointer("/tenant")), Some(json!("t-9"))),
            (MappingSource::Roles, Some(json!(["admin", "editor"]))),
            (MappingSource::OrganizationId(org("acme")), Some(json!("o1"))),
            (MappingSource::OrganizationId(None), Some(json!(["o1", "o2"]))),
            (MappingSource::OrganizationName(org("globex")), Some(json!("globex"))),
            (MappingSource::OrganizationName(None), Some(json!(["acme", "globex"]))),
            (MappingSource::OrganizationRoles(org("acme")), Some(json!(["owner"]))),
            (MappingSource::OrganizationRoles(None), Some(json!({ "acme": ["owner"], "globex": [] }))),
        ];
        for (source, expected) in cases {
            assert_eq!(value_of(&source, &data), expected, "{source:?}");
        }
    }

    #[test]
    fn missing_values_yield_nothing() {
        let (user, app) = (user(), app());
        let data = MappingData { user: Some(&user), application: &app };
        for source in [
            MappingSource::Claim("nickname".into()),
            MappingSource::Claim("family_name".into()),
            MappingSource::AppMetadata(pointer("/gone")),
            MappingSource::AppMetadata(pointer("/plan/none")),
            MappingSource::OrganizationId(org("initech")),
            MappingSource::Script,
        ] {
            assert_eq!(value_of(&source, &data), None, "{source:?}");
        }
        let machine = MappingData { user: None, application: &app };
        assert_eq!(value_of(&MappingSource::Roles, &machine), None);
        assert_eq!(value_of(&MappingSource::ApplicationMetadata(pointer("/tenant")), &machine), Some(json!("t-9")));
    }
}
