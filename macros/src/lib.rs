//! lwt-macros: the attribute macros `#[lwt::main]` and `#[lwt::test]`.
//!
//! Use them through the `lwt` crate (`#[lwt::main]`, `#[lwt::test]`), whose documentation
//! has the runnable examples: the code these macros write calls `::lwt`, so this crate is not
//! meant to be a dependency of its own.
//!
//! The macros only rewrite the function; what the generated code does at run time (building
//! the runtime, choosing the backends, the deadline, reporting a failure) lives in the `lwt`
//! crate (`lwt::run` and the hidden `lwt::__private::run_test`), so it is ordinary, tested
//! library code.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Attribute, ItemFn, LitInt, LitStr, ReturnType};

/// The backend names `#[lwt::test(backend = "...")]` accepts: every kind lwt knows, whether or
/// not the OS compiling the test has it (the run decides, see `lwt::test`). Kept equal to
/// `lwt::BackendKind::ALL` by a test of the `lwt` crate, which pins one test to each name.
const BACKENDS: [&str; 5] = ["epoll", "poll", "kqueue", "iocp", "io_uring"];

/// Runs an `async fn main` on an lwt runtime built from the environment.
///
/// See `lwt::main` for the documentation and examples.
#[proc_macro_attribute]
pub fn main(
    args: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    let item: TokenStream = item.into();
    match expand_main(args.into(), item.clone()) {
        Ok(out) => out.into(),
        Err(e) => with_item(e, item).into(),
    }
}

/// Runs an `async fn` test once on every backend this OS has (or on one).
///
/// See `lwt::test` for the documentation and examples.
#[proc_macro_attribute]
pub fn test(
    args: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    let item: TokenStream = item.into();
    match expand_test(args.into(), item.clone()) {
        Ok(out) => out.into(),
        Err(e) => with_item(e, item).into(),
    }
}

/// The error, and the item unchanged: the error is then the only one the user sees (no
/// "function not found" or "unused" cascade).
fn with_item(e: syn::Error, item: TokenStream) -> TokenStream {
    let err = e.to_compile_error();
    quote! { #err #item }
}

/// What `#[lwt::test(...)]` was given.
#[derive(Debug, Default, PartialEq)]
struct TestArgs {
    /// `backend = "poll"`: run on this backend only.
    backend: Option<String>,
    /// `timeout_secs = N`: the deadline of each backend's run.
    timeout_secs: Option<u64>,
}

fn parse_test_args(args: TokenStream) -> syn::Result<TestArgs> {
    let mut out = TestArgs::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("backend") {
            if out.backend.is_some() {
                return Err(meta.error("`backend` is given twice"));
            }
            let lit: LitStr = meta.value()?.parse()?;
            let name = lit.value();
            if !BACKENDS.contains(&name.as_str()) {
                return Err(syn::Error::new(
                    lit.span(),
                    format!(
                        "unknown backend {name:?}; lwt knows: {}",
                        BACKENDS.join(", ")
                    ),
                ));
            }
            out.backend = Some(name);
            Ok(())
        } else if meta.path.is_ident("timeout_secs") {
            if out.timeout_secs.is_some() {
                return Err(meta.error("`timeout_secs` is given twice"));
            }
            let lit: LitInt = meta.value()?.parse()?;
            let secs: u64 = lit.base10_parse()?;
            if secs == 0 {
                return Err(syn::Error::new(
                    lit.span(),
                    "`timeout_secs` must be at least 1",
                ));
            }
            out.timeout_secs = Some(secs);
            Ok(())
        } else {
            Err(meta.error(format!(
                "unknown attribute `{}`; `#[lwt::test]` takes `backend = \"{}\"` and \
                 `timeout_secs = N`",
                meta.path.to_token_stream(),
                BACKENDS.join("\" | \"")
            )))
        }
    });
    syn::parse::Parser::parse2(parser, args)?;
    Ok(out)
}

/// Checks what both macros need of the function: `async`, no arguments, no generics, not
/// `const`/`unsafe`/`extern`. `what` names the macro in the messages.
fn check_signature(f: &ItemFn, what: &str) -> syn::Result<()> {
    let sig = &f.sig;
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span,
            format!("the `async` keyword is missing from the function declaration (`{what}` runs an `async fn`)"),
        ));
    }
    if !sig.inputs.is_empty() {
        return Err(syn::Error::new_spanned(
            &sig.inputs,
            format!("`{what}` functions take no arguments"),
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            format!("`{what}` functions cannot be generic"),
        ));
    }
    if let Some(c) = &sig.constness {
        return Err(syn::Error::new(
            c.span,
            format!("`{what}` functions cannot be `const`"),
        ));
    }
    if let syn::Safety::Unsafe(u) = &sig.safety {
        return Err(syn::Error::new(
            u.span,
            format!("`{what}` functions cannot be `unsafe`"),
        ));
    }
    if let Some(abi) = &sig.abi {
        return Err(syn::Error::new_spanned(
            abi,
            format!("`{what}` functions cannot have an ABI"),
        ));
    }
    if let Some(v) = &sig.variadic {
        return Err(syn::Error::new_spanned(
            v,
            format!("`{what}` functions cannot be variadic"),
        ));
    }
    Ok(())
}

/// The span errors about the return value should point at: the return type, else the name.
fn output_span(f: &ItemFn) -> Span {
    match &f.sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => f.sig.ident.span(),
    }
}

fn expand_main(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let f: ItemFn = syn::parse2(item)?;
    if !args.is_empty() {
        return Err(syn::Error::new_spanned(
            args,
            "`#[lwt::main]` takes no arguments: the runtime is built from the environment \
             (LWT_BACKEND, LWT_ASYNC_METHOD, LWT_POOL_SIZE); build one with `lwt::Builder` \
             for settings made in code",
        ));
    }
    check_signature(&f, "#[lwt::main]")?;
    let call = quote_spanned! {output_span(&f)=> ::lwt::run(__lwt_main()) };
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
        ..
    } = f;
    let name = &sig.ident;
    let output = &sig.output;
    Ok(quote! {
        #(#attrs)*
        #vis fn #name() #output {
            async fn __lwt_main() #output #block
            #call
        }
    })
}

fn is_attr(a: &Attribute, name: &str) -> bool {
    a.path().is_ident(name)
}

fn expand_test(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let f: ItemFn = syn::parse2(item)?;
    let args = parse_test_args(args)?;
    check_signature(&f, "#[lwt::test]")?;
    if let Some(a) = f.attrs.iter().find(|a| is_attr(a, "test")) {
        return Err(syn::Error::new_spanned(
            a,
            "`#[lwt::test]` already makes this function a `#[test]`; remove this attribute",
        ));
    }
    let should_panic = f.attrs.iter().any(|a| is_attr(a, "should_panic"));
    let span = output_span(&f);
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
        ..
    } = f;
    let name = &sig.ident;
    let output = &sig.output;
    let backend = match &args.backend {
        Some(b) => quote!(::core::option::Option::Some(#b)),
        None => quote!(::core::option::Option::None),
    };
    let timeout = match args.timeout_secs {
        Some(t) => quote!(::core::option::Option::Some(#t)),
        None => quote!(::core::option::Option::None),
    };
    // Spanned at the return type: a body whose output is not `()` or `Result<(), E: Debug>`
    // is reported there (the bound of `run_test` says what is accepted).
    let call = quote_spanned! {span=>
        ::lwt::__private::run_test(
            ::lwt::__private::TestSpec {
                name: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#name)),
                backend: #backend,
                timeout_secs: #timeout,
                should_panic: #should_panic,
            },
            __lwt_test,
        )
    };
    Ok(quote! {
        #[::core::prelude::v1::test]
        #(#attrs)*
        #vis fn #name() {
            async fn __lwt_test() #output #block
            #call
        }
    })
}

#[cfg(test)]
mod tests {
    use super::{expand_main, expand_test, parse_test_args, with_item, TestArgs, BACKENDS};
    use proc_macro2::{Span, TokenStream};
    use quote::quote;

    fn err_test(args: TokenStream, item: TokenStream) -> String {
        expand_test(args, item).unwrap_err().to_string()
    }

    #[test]
    fn test_args_parse() {
        assert_eq!(parse_test_args(quote!()).unwrap(), TestArgs::default());
        assert_eq!(
            parse_test_args(quote!(backend = "poll")).unwrap(),
            TestArgs {
                backend: Some("poll".into()),
                timeout_secs: None
            }
        );
        assert_eq!(
            parse_test_args(quote!(timeout_secs = 5, backend = "iocp")).unwrap(),
            TestArgs {
                backend: Some("iocp".into()),
                timeout_secs: Some(5)
            }
        );
        for name in BACKENDS {
            assert!(parse_test_args(quote!(backend = #name)).is_ok(), "{name}");
        }
    }

    #[test]
    fn bad_test_args_are_clear_errors() {
        let e = parse_test_args(quote!(backend = "uring")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown backend \"uring\"; lwt knows: epoll, poll, kqueue, iocp, io_uring"
        );
        let e = parse_test_args(quote!(flavor = "current_thread")).unwrap_err();
        assert!(
            e.to_string().starts_with("unknown attribute `flavor`"),
            "{e}"
        );
        assert!(e.to_string().contains("timeout_secs"), "{e}");
        let e = parse_test_args(quote!(backend = "poll", backend = "epoll")).unwrap_err();
        assert_eq!(e.to_string(), "`backend` is given twice");
        let e = parse_test_args(quote!(timeout_secs = 0)).unwrap_err();
        assert_eq!(e.to_string(), "`timeout_secs` must be at least 1");
        assert!(parse_test_args(quote!(timeout_secs = "5")).is_err());
        assert!(parse_test_args(quote!(backend = poll)).is_err());
        assert!(parse_test_args(quote!(timeout_secs = -1)).is_err());
    }

    #[test]
    fn misuse_is_reported_at_the_culprit() {
        let e = err_test(
            quote!(),
            quote!(
                fn t() {}
            ),
        );
        assert!(e.starts_with("the `async` keyword is missing"), "{e}");
        let e = err_test(
            quote!(),
            quote!(
                async fn t(x: u32) {}
            ),
        );
        assert_eq!(e, "`#[lwt::test]` functions take no arguments");
        let e = err_test(
            quote!(),
            quote!(
                async fn t<T>() {}
            ),
        );
        assert_eq!(e, "`#[lwt::test]` functions cannot be generic");
        let e = err_test(
            quote!(),
            quote!(
                async unsafe fn t() {}
            ),
        );
        assert_eq!(e, "`#[lwt::test]` functions cannot be `unsafe`");
        let e = err_test(
            quote!(),
            quote!(
                #[test]
                async fn t() {}
            ),
        );
        assert!(e.contains("already makes this function a `#[test]`"), "{e}");
        let e = err_test(
            quote!(),
            quote!(
                struct S;
            ),
        );
        assert!(e.contains("expected"), "{e}");

        let e = expand_main(
            quote!(backend = "poll"),
            quote!(
                async fn main() {}
            ),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("`#[lwt::main]` takes no arguments"),
            "{e}"
        );
        let e = expand_main(
            quote!(),
            quote!(
                fn main() {}
            ),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("`#[lwt::main]` runs an `async fn`"),
            "{e}"
        );
        let e = expand_main(
            quote!(),
            quote!(
                async fn main(args: Vec<String>) {}
            ),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "`#[lwt::main]` functions take no arguments");
    }

    #[test]
    fn an_error_keeps_the_item() {
        // The original function is still emitted beside the error, so that the error is the
        // only one reported.
        let out = with_item(
            syn::Error::new(Span::call_site(), "boom"),
            quote!(
                fn t() {}
            ),
        )
        .to_string();
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("fn t"), "{out}");
    }

    #[test]
    fn expansions() {
        let out = expand_main(
            quote!(),
            quote!(
                async fn main() -> Result<(), String> {
                    Ok(())
                }
            ),
        )
        .unwrap()
        .to_string();
        assert!(
            out.starts_with("fn main () -> Result < () , String >"),
            "{out}"
        );
        assert!(
            out.contains("async fn __lwt_main () -> Result < () , String >"),
            "{out}"
        );
        assert!(out.contains(":: lwt :: run (__lwt_main ())"), "{out}");

        let out = expand_test(
            quote!(backend = "poll", timeout_secs = 7),
            quote!(
                #[should_panic(expected = "x")]
                #[ignore]
                async fn t() {
                    panic!("x")
                }
            ),
        )
        .unwrap()
        .to_string();
        assert!(
            out.starts_with("# [:: core :: prelude :: v1 :: test]"),
            "{out}"
        );
        assert!(out.contains("# [should_panic (expected = \"x\")]"), "{out}");
        assert!(out.contains("# [ignore]"), "{out}");
        assert!(
            out.contains("backend : :: core :: option :: Option :: Some (\"poll\")"),
            "{out}"
        );
        assert!(
            out.contains("timeout_secs : :: core :: option :: Option :: Some (7u64)"),
            "{out}"
        );
        assert!(out.contains("should_panic : true"), "{out}");

        let out = expand_test(
            quote!(),
            quote!(
                async fn t() {}
            ),
        )
        .unwrap()
        .to_string();
        assert!(
            out.contains("backend : :: core :: option :: Option :: None"),
            "{out}"
        );
        assert!(out.contains("should_panic : false"), "{out}");
    }
}
