#[rivulet::remote]
fn swap((a, b): (i64, i64)) -> (i64, i64) {
    (b, a)
}

struct Point {
    x: f64,
    y: f64,
}

#[rivulet::remote]
fn norm(Point { x, y }: Point) -> f64 {
    x.hypot(y)
}

#[rivulet::remote]
fn both(pair @ (a, _): (i64, i64)) -> i64 {
    pair.1 + a
}

fn main() {}
