// `sqlx::migrate!` embeds the migrations at compile time; without this, a
// cached build would not notice a new migration file.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
