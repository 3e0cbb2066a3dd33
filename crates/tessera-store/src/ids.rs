/// A new identifier for a row: a UUIDv7, so ids sort by creation time on both backends.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
