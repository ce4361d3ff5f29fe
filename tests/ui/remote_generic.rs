#[rivulet::remote]
fn identity<T: Clone>(x: T) -> T {
    x
}

#[rivulet::remote]
fn sum(items: Vec<i64>) -> i64
where
    i64: Copy,
{
    items.iter().sum()
}

#[rivulet::remote]
fn show(x: impl std::fmt::Display) -> String {
    x.to_string()
}

fn main() {}
