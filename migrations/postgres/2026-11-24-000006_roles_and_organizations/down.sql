DROP TABLE organization_member_roles;
DROP TABLE organization_members;
DROP TABLE organizations;
DROP TABLE user_roles;
DROP TABLE roles;
