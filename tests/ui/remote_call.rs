// A remote function is a value (a unit struct implementing `RemoteFn`), not a Rust function:
// calling it as `inc(41)` does not compile, and the way to call it here is `inc.call(41)`.
#[rivulet::remote]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let _ = inc(41);
}
