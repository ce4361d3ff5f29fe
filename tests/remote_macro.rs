//! `#[rivulet::remote]`: the forms it accepts and what it generates.
#![cfg(feature = "remote")]

use std::convert::Infallible;

use rivulet::RemoteFn;
use rivulet::remote::registry::{TaskFailure, lookup};

#[rivulet::remote]
fn inc(x: i64) -> i64 {
    x + 1
}

#[rivulet::remote]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[rivulet::remote]
fn label(id: u32, name: String, tags: Vec<String>) -> String {
    format!("{id}:{name}[{}]", tags.join(","))
}

#[rivulet::remote]
fn checked_div(a: i64, b: i64) -> Result<i64, String> {
    if b == 0 {
        Err(format!("{a} / 0"))
    } else {
        Ok(a / b)
    }
}

#[rivulet::remote]
fn parse(text: String) -> std::result::Result<u8, std::num::ParseIntError> {
    text.parse()
}

#[rivulet::remote]
fn note(_x: i64) {}

#[rivulet::remote]
fn zero(_: i64, _: String) -> i64 {
    0
}

/// A function with docs and a `mut` parameter.
#[rivulet::remote]
fn countdown(mut n: u32) -> Vec<u32> {
    let mut out = Vec::new();
    while n > 0 {
        out.push(n);
        n -= 1;
    }
    out
}

#[rivulet::remote]
fn r#type(x: u8) -> u8 {
    x
}

#[rivulet::remote]
#[cfg(any())]
fn compiled_out(x: i64) -> i64 {
    x
}

/// Functions in another module.
pub mod nested {
    /// Visible outside its module, like the function would be.
    #[rivulet::remote]
    pub fn double(x: i64) -> i64 {
        x * 2
    }

    #[rivulet::remote]
    pub(crate) const fn triple(x: i64) -> i64 {
        x * 3
    }
}

/// `$t:ty` reaches the macro wrapped in an invisible group: `Result` is still recognised.
macro_rules! make_checked {
    ($name:ident, $t:ty) => {
        #[rivulet::remote]
        fn $name(x: $t) -> Result<$t, String> {
            x.checked_mul(2).ok_or_else(|| "overflow".to_owned())
        }
    };
}

make_checked!(double_u8, u8);

/// Checks associated types at compile time.
fn assert_types<F: RemoteFn<Input = I, Output = O, Error = E>, I, O, E>(_: F) {}

#[test]
fn one_argument() {
    assert_eq!(inc.call(1), 2);
    assert_eq!(RemoteFn::call(&inc, 1), Ok(2));
    assert_types::<_, i64, i64, Infallible>(inc);
    assert_eq!(inc::NAME, "remote_macro::inc");
    assert_eq!(<inc as RemoteFn>::NAME, concat!(module_path!(), "::inc"));
}

#[test]
fn several_arguments_become_a_tuple() {
    assert_eq!(add.call(2, 3), 5);
    assert_eq!(RemoteFn::call(&add, (2, 3)), Ok(5));
    assert_types::<_, (i64, i64), i64, Infallible>(add);

    let tags = vec!["a".to_owned(), "b".to_owned()];
    assert_eq!(label.call(7, "x".to_owned(), tags.clone()), "7:x[a,b]");
    assert_eq!(
        RemoteFn::call(&label, (7, "x".to_owned(), tags)),
        Ok("7:x[a,b]".to_owned())
    );
    assert_types::<_, (u32, String, Vec<String>), String, Infallible>(label);
}

#[test]
fn result_return_splits_output_and_error() {
    assert_eq!(checked_div.call(7, 2), Ok(3));
    assert_eq!(checked_div.call(7, 0), Err("7 / 0".to_owned()));
    assert_types::<_, (i64, i64), i64, String>(checked_div);
    assert_eq!(
        RemoteFn::call(&checked_div, (7, 0)),
        Err("7 / 0".to_owned())
    );

    // Any path ending in `Result` with two arguments.
    assert_types::<_, String, u8, std::num::ParseIntError>(parse);
    assert_eq!(parse.call("255".to_owned()), Ok(255));
    assert!(parse.call("256".to_owned()).is_err());
}

#[test]
fn no_return_type_means_unit_output() {
    assert_types::<_, i64, (), Infallible>(note);
    assert_eq!(RemoteFn::call(&note, 1), Ok(()));
    assert_eq!(lookup(note::NAME).unwrap().run(&[], &[2]), Ok(vec![]));
}

#[test]
fn underscore_parameters_are_accepted() {
    assert_eq!(zero.call(5, String::new()), 0);
    assert_types::<_, (i64, String), i64, Infallible>(zero);
}

#[test]
fn body_attributes_and_mut_parameters_are_kept() {
    assert_eq!(countdown.call(3), vec![3, 2, 1]);
    assert_eq!(RemoteFn::call(&countdown, 0), Ok(vec![]));
}

#[test]
fn raw_identifiers_give_plain_names() {
    assert_eq!(r#type.call(4), 4);
    assert_eq!(<r#type as RemoteFn>::NAME, "remote_macro::type");
    assert!(lookup("remote_macro::type").is_some());
}

#[test]
fn cfg_removes_everything() {
    assert!(lookup("remote_macro::compiled_out").is_none());
}

#[test]
fn visibility_and_const_are_kept() {
    assert_eq!(nested::double.call(21), 42);
    assert_eq!(nested::double::NAME, "remote_macro::nested::double");
    const NINE: i64 = nested::triple.call(3);
    assert_eq!(NINE, 9);
    assert!(lookup("remote_macro::nested::triple").is_some());
}

#[test]
fn functions_from_macro_rules() {
    assert_types::<_, u8, u8, String>(double_u8);
    assert_eq!(double_u8.call(100), Ok(200));
    assert_eq!(double_u8.call(200), Err("overflow".to_owned()));
    let failure = lookup(double_u8::NAME)
        .unwrap()
        .run(&[], &[200])
        .unwrap_err();
    assert_eq!(failure, TaskFailure::Failed("overflow".to_owned()));
}

#[test]
fn the_value_is_a_plain_unit_struct() {
    let f = inc;
    let g = f; // Copy
    assert_eq!(format!("{:?}", g.clone()), "inc");
    assert_eq!(format!("{:?}", <inc as Default>::default()), "inc");
    // A unit struct travels to a worker as no bytes at all.
    assert_eq!(postcard::to_allocvec(&inc).unwrap(), Vec::<u8>::new());
    let _: inc = postcard::from_bytes(&[]).unwrap();
}

#[test]
fn every_form_is_registered_and_runs_on_bytes() {
    let input = [
        postcard::to_allocvec(&40_i64).unwrap(),
        postcard::to_allocvec(&2_i64).unwrap(),
    ];
    let output = lookup(add::NAME)
        .unwrap()
        .run(&[], &input.concat())
        .unwrap();
    assert_eq!(postcard::from_bytes::<i64>(&output).unwrap(), 42);

    let divide = lookup(checked_div::NAME).unwrap();
    assert_eq!(divide.signature(), "(i64, i64) -> i64");
    let by_zero = [
        postcard::to_allocvec(&1_i64).unwrap(),
        postcard::to_allocvec(&0_i64).unwrap(),
    ];
    assert_eq!(
        divide.run(&[], &by_zero.concat()),
        Err(TaskFailure::Failed("1 / 0".to_owned()))
    );

    for name in [
        "inc",
        "add",
        "label",
        "checked_div",
        "parse",
        "note",
        "countdown",
        "double_u8",
    ] {
        let name = format!("remote_macro::{name}");
        assert!(lookup(&name).is_some(), "{name} is registered");
    }
}
