//! The procedural macros of [rivulet](https://docs.rs/rivulet): use them through that crate,
//! as `#[rivulet::remote]`. Their expansions name only `::rivulet::…` paths.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, ItemFn, Pat, PathArguments, ReturnType, Type};

/// Makes a plain function a remote function: a value that rivulet's distributed streams can
/// send to workers (`remote.map(inc)`), and that runs here too (`inc.call(x)`).
///
/// ```
/// #[rivulet::remote]
/// fn inc(x: i64) -> i64 {
///     x + 1
/// }
///
/// # fn main() {
/// assert_eq!(inc.call(1), 2);
/// # }
/// ```
///
/// `inc` becomes a unit struct of the same name and visibility (`Clone`, `Copy`, `Debug`,
/// `Default`, and serde's traits through `rivulet::serde`), with:
///
/// - an inherent method `call` with the function's own parameters, return type and body, so
///   `inc.call(1)` runs it in this process;
/// - an implementation of `rivulet::RemoteFn` named `concat!(module_path!(), "::inc")`. Several
///   parameters become a tuple `Input`: `fn add(a: i64, b: i64)` takes `(i64, i64)`. A declared
///   return type `Result<U, E>` (any path ending in `Result` with two type arguments) gives
///   `Output = U` and `Error = E`, so an `Err` becomes that item's error, carrying `E`'s
///   `Display`; any other return type `T` gives `Output = T` and
///   `Error = std::convert::Infallible`;
/// - its registration (`rivulet::register!(inc)`), so that a worker built from the same code
///   finds it by name.
///
/// ```
/// use rivulet::RemoteFn;
///
/// #[rivulet::remote]
/// fn add(a: i64, b: i64) -> i64 {
///     a + b
/// }
///
/// /// Parses a decimal number.
/// #[rivulet::remote]
/// pub fn parse(text: String) -> Result<i64, std::num::ParseIntError> {
///     text.trim().parse()
/// }
///
/// # fn main() {
/// assert_eq!(add.call(2, 3), 5);
/// assert_eq!(RemoteFn::call(&add, (2, 3)), Ok(5));
///
/// assert_eq!(parse.call(" 42 ".to_owned()), Ok(42));
/// let err = RemoteFn::call(&parse, "forty-two".to_owned()).unwrap_err();
/// assert_eq!(err.to_string(), "invalid digit found in string");
/// assert!(parse::NAME.ends_with("::parse"));
/// # }
/// ```
///
/// The function must have concrete, owned parameter and return types (a worker decodes every
/// input into a fresh value): the macro refuses methods (`self`), generic, `async`, `unsafe` and
/// `extern` functions, parameters that are patterns rather than plain names, references, and
/// `impl Trait`, each with an error that points at the culprit.
///
/// Its one argument, `#[rivulet::remote(inline)]`, declares that the function never blocks and
/// takes microseconds: a worker then runs it on its runtime thread rather than handing it to a
/// slot thread, which saves two thread wake-ups per task (see `RemoteFn::INLINE`; a call over
/// the budget sends the function back to the slots).
///
/// A function that needs parameters is instead a serde struct that implements `RemoteFn` by
/// hand and is registered with `rivulet::register!`. Inside the body, the function's own name
/// is the struct: a recursive call is written `inc.call(x)`.
///
/// Since `inc` is a value, not a Rust function, calling it as `inc(41)` does not compile;
/// rustc says ``error[E0618]: expected function, found `inc` `` and points at the attribute as
/// where `inc` is defined (no macro can add a hint to that message). Write `inc.call(41)`.
///
/// ```compile_fail,E0618
/// #[rivulet::remote]
/// fn inc(x: i64) -> i64 {
///     x + 1
/// }
///
/// # fn main() {
/// let _ = inc(41); // error[E0618]: expected function, found `inc`
/// # }
/// ```
#[proc_macro_attribute]
pub fn remote(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = TokenStream2::from(args);
    let item = TokenStream2::from(item);
    // The one argument: `inline`, for a function that never blocks (see `RemoteFn::INLINE`).
    let inline = match syn::parse2::<Option<syn::Ident>>(args.clone()) {
        Ok(None) => false,
        Ok(Some(word)) if word == "inline" => true,
        _ => {
            let error = syn::Error::new_spanned(
                &args,
                "`#[rivulet::remote]` takes no arguments but `inline` (for a function that never blocks)",
            );
            return with_item(error, item);
        }
    };
    match syn::parse2::<ItemFn>(item.clone()).and_then(|function| expand(function, inline)) {
        Ok(expanded) => expanded.into(),
        Err(error) => with_item(error, item),
    }
}

/// Emits the errors next to the untouched item, so that its uses do not add errors of their own.
fn with_item(error: syn::Error, item: TokenStream2) -> TokenStream {
    let error = error.to_compile_error();
    quote!(#error #item).into()
}

fn expand(function: ItemFn, inline: bool) -> syn::Result<TokenStream2> {
    check_signature(&function)?;
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    let name = &sig.ident;
    let name_text = name.unraw().to_string();

    // `#[doc]` describes the struct as much as the method; `#[cfg]` must remove every generated
    // item along with the function, or the trait impl would call a method that is not there.
    let docs: Vec<_> = attrs.iter().filter(|a| a.path().is_ident("doc")).collect();
    let cfgs: Vec<_> = attrs.iter().filter(|a| a.path().is_ident("cfg")).collect();

    let mut method = sig.clone();
    method.ident = syn::Ident::new("call", name.span());
    method.inputs.insert(0, syn::parse_quote!(&self));

    let types: Vec<&Type> = sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            FnArg::Typed(typed) => Some(&*typed.ty),
            FnArg::Receiver(_) => None,
        })
        .collect();
    let args: Vec<_> = (0..types.len())
        .map(|i| format_ident!("__rivulet_arg{}", i, span = Span::mixed_site()))
        .collect();
    let input = format_ident!("__rivulet_input", span = Span::mixed_site());
    let (input_type, unpack) = match (&types[..], &args[..]) {
        ([ty], [arg]) => (quote!(#ty), quote!(let #arg = #input;)),
        _ => (quote!((#(#types,)*)), quote!(let (#(#args,)*) = #input;)),
    };

    let returned = match &sig.output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => Some(&**ty),
    };
    let call = quote!(<#name>::call(self, #(#args),*));
    let (output_type, error_type, body) = match returned.and_then(result_parts) {
        Some((ok, err)) => (quote!(#ok), quote!(#err), call),
        None => {
            let output = returned.map_or_else(|| quote!(()), |ty| quote!(#ty));
            (
                output,
                quote!(::core::convert::Infallible),
                quote!(::core::result::Result::Ok(#call)),
            )
        }
    };

    Ok(quote! {
        #(#cfgs)*
        #(#docs)*
        #[allow(non_camel_case_types)]
        #[derive(
            ::core::clone::Clone,
            ::core::marker::Copy,
            ::core::fmt::Debug,
            ::core::default::Default,
            ::rivulet::serde::Serialize,
            ::rivulet::serde::Deserialize,
        )]
        #[serde(crate = "::rivulet::serde")]
        #vis struct #name;

        #(#cfgs)*
        impl #name {
            #(#attrs)*
            #vis #method #block
        }

        #(#cfgs)*
        impl ::rivulet::RemoteFn for #name {
            const NAME: &'static str = ::core::concat!(::core::module_path!(), "::", #name_text);
            type Input = #input_type;
            type Output = #output_type;
            type Error = #error_type;
            const INLINE: bool = #inline;

            fn call(
                &self,
                #input: <Self as ::rivulet::RemoteFn>::Input,
            ) -> ::core::result::Result<
                <Self as ::rivulet::RemoteFn>::Output,
                <Self as ::rivulet::RemoteFn>::Error,
            > {
                #unpack
                #body
            }
        }

        #(#cfgs)*
        ::rivulet::register!(#name);
    })
}

/// Refuses what a registry entry cannot be, pointing at the culprit; all errors at once.
fn check_signature(function: &ItemFn) -> syn::Result<()> {
    let sig = &function.sig;
    let mut errors = Vec::new();
    if let Some(token) = &sig.asyncness {
        errors.push(syn::Error::new(
            token.span(),
            "a remote function cannot be `async`: workers run remote functions on their own threads; make it a plain `fn`",
        ));
    }
    if let Some(token) = &sig.unsafety {
        errors.push(syn::Error::new(
            token.span(),
            "a remote function cannot be `unsafe`: nothing could uphold its contract on a worker",
        ));
    }
    if let Some(abi) = &sig.abi {
        errors.push(syn::Error::new_spanned(
            abi,
            "a remote function cannot have an `extern` ABI",
        ));
    }
    const GENERIC: &str = "a remote function cannot be generic: a worker finds it by one name, so it needs concrete types; write one function per type";
    if !sig.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(&sig.generics, GENERIC));
    } else if let Some(where_clause) = &sig.generics.where_clause {
        errors.push(syn::Error::new_spanned(where_clause, GENERIC));
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(syn::Error::new_spanned(
            variadic,
            "a remote function cannot be variadic",
        ));
    }
    if sig.inputs.is_empty() {
        errors.push(syn::Error::new(
            sig.paren_token.span.join(),
            "a remote function takes at least one parameter: the item it is applied to",
        ));
    }
    for arg in &sig.inputs {
        match arg {
            FnArg::Receiver(receiver) => errors.push(syn::Error::new_spanned(
                receiver,
                "a remote function cannot take `self`: put `#[rivulet::remote]` on a free function, or implement `rivulet::RemoteFn` for a struct holding the parameters",
            )),
            FnArg::Typed(typed) => {
                // `_` is fine too: the generated code names the inputs itself.
                let plain_name = match &*typed.pat {
                    Pat::Ident(ident) => ident.subpat.is_none(),
                    Pat::Wild(_) => true,
                    _ => false,
                };
                if !plain_name {
                    errors.push(syn::Error::new_spanned(
                        &typed.pat,
                        "a remote function's parameters must be plain names (`x: T`) or `_`: destructure them in the body",
                    ));
                }
                check_type(&typed.ty, "parameters", &mut errors);
            }
        }
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        check_type(ty, "return type", &mut errors);
    }
    let mut errors = errors.into_iter();
    match errors.next() {
        None => Ok(()),
        Some(mut first) => {
            first.extend(errors);
            Err(first)
        }
    }
}

/// Types a worker cannot decode into, or that cannot name an associated type.
fn check_type(ty: &Type, what: &str, errors: &mut Vec<syn::Error>) {
    match peel(ty) {
        Type::Reference(reference) => errors.push(syn::Error::new_spanned(
            reference,
            format!(
                "a remote function's {what} must be owned: a worker decodes every value afresh (use `String` for `&str`, `Vec<T>` for `&[T]`)"
            ),
        )),
        Type::ImplTrait(impl_trait) => errors.push(syn::Error::new_spanned(
            impl_trait,
            format!("a remote function's {what} cannot be `impl Trait`: name a concrete type"),
        )),
        _ => {}
    }
}

/// Looks through the invisible groups that `macro_rules!` wraps around `$t:ty`, and parentheses.
fn peel(ty: &Type) -> &Type {
    match ty {
        Type::Group(group) => peel(&group.elem),
        Type::Paren(paren) => peel(&paren.elem),
        _ => ty,
    }
}

/// `Some((U, E))` for a type written `…Result<U, E>`.
fn result_parts(ty: &Type) -> Option<(&Type, &Type)> {
    let Type::Path(path) = peel(ty) else {
        return None;
    };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(generics) = &last.arguments else {
        return None;
    };
    match generics.args.iter().collect::<Vec<_>>()[..] {
        [GenericArgument::Type(ok), GenericArgument::Type(err)] => Some((ok, err)),
        _ => None,
    }
}
