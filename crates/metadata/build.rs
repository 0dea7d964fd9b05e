// `sqlx::migrate!` embeds the migrations at compile time: a migration added (not only one
// edited) must rebuild the crate, which cargo does not know without this line (sqlx's advice).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
