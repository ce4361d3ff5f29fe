#[rivulet::remote]
fn length(text: &str) -> usize {
    text.len()
}

#[rivulet::remote]
fn constant() -> i64 {
    42
}

#[rivulet::remote]
fn evens(limit: u32) -> impl Iterator<Item = u32> {
    (0..limit).step_by(2)
}

fn main() {}
