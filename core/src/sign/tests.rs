//! Known-answer tests for the sign string.
//!
//! Every expected MD5 below was computed independently of this crate, with Python:
//!
//! ```python
//! import hashlib
//! hashlib.md5((canonical + "&secret=" + secret).encode()).hexdigest()
//! ```
//!
//! and every expected canonical string was written by hand from the documented rules
//! (`docs/protocol.md`, §Signing). Vectors 1 to 3 are the ones listed there (§Sign test vectors).

use super::*;

const DOC_SECRET: &str = "YOUR_SECRET_KEY";

struct Vector {
    name: &'static str,
    body: &'static str,
    options: SignOptions,
    secret: &'static str,
    canonical: &'static str,
    md5: &'static str,
}

const TWO: SignOptions = SignOptions {
    numbers: NumberRendering::Amounts(AmountRendering::TwoDecimals),
    lists: ListRendering::CommaJoined,
};
const TRIM: SignOptions = SignOptions {
    numbers: NumberRendering::Amounts(AmountRendering::Trimmed),
    lists: ListRendering::CommaJoined,
};
const AS_SENT: SignOptions = SignOptions::AS_SENT;
const TWO_NO_LIST: SignOptions = SignOptions {
    numbers: NumberRendering::Amounts(AmountRendering::TwoDecimals),
    lists: ListRendering::Omitted,
};
const TRIM_NO_LIST: SignOptions = SignOptions {
    numbers: NumberRendering::Amounts(AmountRendering::Trimmed),
    lists: ListRendering::Omitted,
};

const DOC_CALLBACK: &str = r#"{"type":0,"merchant_id":1,"order_no":"payout0003","order_amount":106.00,"paid_amount":106.00,"balance_amount":100.00,"fee":6.00,"pay_time":"2025-08-05 16:43:55","status":5,"reason":"success","sign":"f0b08c8ea0537a9974e926a2f9aa6d83"}"#;

const VECTORS: &[Vector] = &[
    Vector {
        name: "1: v4 cashier payin example, 5.00 as sent (docs/protocol.md vector 1)",
        body: r#"{"currency":"USD","merchant_id":8820250900009,"notify_url":"https://rbaskets.trustpay.money/checkout","order_amount":5.00,"order_no":"local-test-payin-319","sign":"c4a02e0e9270ec884fa050cdf0e916ad"}"#,
        options: AS_SENT,
        secret: DOC_SECRET,
        canonical: "currency=USD&merchant_id=8820250900009&notify_url=https://rbaskets.trustpay.money/checkout&order_amount=5.00&order_no=local-test-payin-319",
        md5: "74d28fe52c0457441f7fa2b3a62b6085",
    },
    Vector {
        name: "2: same body, amounts trimmed (docs/protocol.md vector 2)",
        body: r#"{"currency":"USD","merchant_id":8820250900009,"notify_url":"https://rbaskets.trustpay.money/checkout","order_amount":5.00,"order_no":"local-test-payin-319"}"#,
        options: TRIM,
        secret: DOC_SECRET,
        canonical: "currency=USD&merchant_id=8820250900009&notify_url=https://rbaskets.trustpay.money/checkout&order_amount=5&order_no=local-test-payin-319",
        md5: "5d127dbcf521c8278d2ba2e07e3d0924",
    },
    Vector {
        name: "3: v4 callback example at two decimals; type 0 dropped (docs/protocol.md vector 3)",
        body: DOC_CALLBACK,
        options: TWO,
        secret: DOC_SECRET,
        canonical: "balance_amount=100.00&fee=6.00&merchant_id=1&order_amount=106.00&order_no=payout0003&paid_amount=106.00&pay_time=2025-08-05 16:43:55&reason=success&status=5",
        md5: "f0b08c8ea0537a9974e926a2f9aa6d83",
    },
    Vector {
        name: "4: the callback example as printed on the endpoint page (106, 100, 6), trimmed",
        body: r#"{"type":0,"merchant_id":1,"order_no":"payout0003","order_amount":106,"paid_amount":106,"balance_amount":100,"fee":6,"pay_time":"2025-08-05 16:43:55","status":5,"reason":"success"}"#,
        options: TRIM,
        secret: DOC_SECRET,
        canonical: "balance_amount=100&fee=6&merchant_id=1&order_amount=106&order_no=payout0003&paid_amount=106&pay_time=2025-08-05 16:43:55&reason=success&status=5",
        md5: "6d4fd8c9bd5c761ae061107d64b1d70e",
    },
    Vector {
        name: "5: the endpoint-page callback re-rendered at two decimals equals vector 3",
        body: r#"{"type":0,"merchant_id":1,"order_no":"payout0003","order_amount":106,"paid_amount":106,"balance_amount":100,"fee":6,"pay_time":"2025-08-05 16:43:55","status":5,"reason":"success"}"#,
        options: TWO,
        secret: DOC_SECRET,
        canonical: "balance_amount=100.00&fee=6.00&merchant_id=1&order_amount=106.00&order_no=payout0003&paid_amount=106.00&pay_time=2025-08-05 16:43:55&reason=success&status=5",
        md5: "f0b08c8ea0537a9974e926a2f9aa6d83",
    },
    Vector {
        name: "6: order query",
        body: r#"{"order_no":"vAlE1xm8MR7wA0fYMdEeh9mk","sign":"a22460490c6c0f6bb424789b85807dd4"}"#,
        options: AS_SENT,
        secret: DOC_SECRET,
        canonical: "order_no=vAlE1xm8MR7wA0fYMdEeh9mk",
        md5: "e7c6234547a8aad5720b80191dc23c72",
    },
    Vector {
        name: "7: balance",
        body: r#"{"currency_id":"USD","sign":"xxxxxxx"}"#,
        options: AS_SENT,
        secret: DOC_SECRET,
        canonical: "currency_id=USD",
        md5: "b9dd210f9b0aa6a5c63ff1a455a1e5f4",
    },
    Vector {
        name: "8: fee overview: no field survives, the secret suffix alone is hashed",
        body: r#"{"sign":""}"#,
        options: AS_SENT,
        secret: DOC_SECRET,
        canonical: "",
        md5: "9da0a2bfe15c66bfe17c5d53232a1e36",
    },
    Vector {
        name: "9: refund request; a string merchant_refund_no",
        body: r#"{"order_no":"A-1","merchant_refund_no":"R1","refund_amount":2.50,"reason":"damaged"}"#,
        options: AS_SENT,
        secret: DOC_SECRET,
        canonical: "merchant_refund_no=R1&order_no=A-1&reason=damaged&refund_amount=2.50",
        md5: "8b6914e172fb112dd85b7153120bfb78",
    },
    Vector {
        name: "10: failed callback carries only order_amount",
        body: r#"{"type":0,"merchant_id":1,"order_no":"f-1","order_amount":20.00,"status":3,"reason":"card declined","pay_time":""}"#,
        options: TWO,
        secret: "s3cr3t",
        canonical: "merchant_id=1&order_amount=20.00&order_no=f-1&reason=card declined&status=3",
        md5: "4a1979df7bbf0251174eff9e45c74825",
    },
    Vector {
        name: "11: timed-out callback; null and zero fields dropped",
        body: r#"{"type":0,"merchant_id":1,"order_no":"t-1","order_amount":20,"paid_amount":0,"fee":0.00,"refund_amount":0.0,"pay_time":null,"status":4,"reason":"timeout"}"#,
        options: TWO,
        secret: "s3cr3t",
        canonical: "merchant_id=1&order_amount=20.00&order_no=t-1&reason=timeout&status=4",
        md5: "137abe753cd2f02da3d189204203338d",
    },
    Vector {
        name: "12: refunded payout-type callback; type 1 kept; array comma-joined",
        body: r#"{"type":1,"merchant_id":1,"order_no":"r-1","order_amount":30.00,"merchant_refund_no":["R1","R2"],"refund_amount":30.00,"status":7,"reason":"refund"}"#,
        options: TWO,
        secret: "s3cr3t",
        canonical: "merchant_id=1&merchant_refund_no=R1,R2&order_amount=30.00&order_no=r-1&reason=refund&refund_amount=30.00&status=7&type=1",
        md5: "b5e45e7c477294d8c8affbfb84ba416c",
    },
    Vector {
        name: "13: partially refunded, two decimals, array joined",
        body: r#"{"type":0,"merchant_id":1,"order_no":"r-1","order_amount":30.00,"merchant_refund_no":["R1","R2"],"refund_amount":12.50,"status":8,"reason":"refund"}"#,
        options: TWO,
        secret: "s3cr3t",
        canonical: "merchant_id=1&merchant_refund_no=R1,R2&order_amount=30.00&order_no=r-1&reason=refund&refund_amount=12.50&status=8",
        md5: "72c443c5c58d49b48eb5ed87b79df4f1",
    },
    Vector {
        name: "14: partially refunded, two decimals, array omitted",
        body: r#"{"type":0,"merchant_id":1,"order_no":"r-1","order_amount":30.00,"merchant_refund_no":["R1","R2"],"refund_amount":12.50,"status":8,"reason":"refund"}"#,
        options: TWO_NO_LIST,
        secret: "s3cr3t",
        canonical: "merchant_id=1&order_amount=30.00&order_no=r-1&reason=refund&refund_amount=12.50&status=8",
        md5: "f4464b123f7d35f78f38557d33586c3f",
    },
    Vector {
        name: "15: partially refunded, trimmed, array joined",
        body: r#"{"type":0,"merchant_id":1,"order_no":"r-1","order_amount":30.00,"merchant_refund_no":["R1","R2"],"refund_amount":12.50,"status":8,"reason":"refund"}"#,
        options: TRIM,
        secret: "s3cr3t",
        canonical: "merchant_id=1&merchant_refund_no=R1,R2&order_amount=30&order_no=r-1&reason=refund&refund_amount=12.5&status=8",
        md5: "8562467039e197ea2973235e6c22b316",
    },
    Vector {
        name: "16: partially refunded, trimmed, array omitted",
        body: r#"{"type":0,"merchant_id":1,"order_no":"r-1","order_amount":30.00,"merchant_refund_no":["R1","R2"],"refund_amount":12.50,"status":8,"reason":"refund"}"#,
        options: TRIM_NO_LIST,
        secret: "s3cr3t",
        canonical: "merchant_id=1&order_amount=30&order_no=r-1&reason=refund&refund_amount=12.5&status=8",
        md5: "9adddfe624cfb8d7752c9a4a4639d9da",
    },
    Vector {
        name: "17: unicode values and secret; a URL with a query string, not encoded",
        body: r#"{"currency":"INR","merchant_id":42,"notify_url":"https://shop.example/v1/trustpay/callback?x=1&y=2","order_amount":1999.99,"order_no":"ORD-\u00fcn\u00ef-订单-1"}"#,
        options: AS_SENT,
        secret: "秘密-key",
        canonical: "currency=INR&merchant_id=42&notify_url=https://shop.example/v1/trustpay/callback?x=1&y=2&order_amount=1999.99&order_no=ORD-ünï-订单-1",
        md5: "5d29653588e538b332536b5105c70d19",
    },
    Vector {
        name: "18: emoji and accents",
        body: r#"{"order_no":"emoji-🙂","reason":"naïve café"}"#,
        options: AS_SENT,
        secret: "k",
        canonical: "order_no=emoji-🙂&reason=naïve café",
        md5: "984ea0986c5ae433d41dc17bff21d8a6",
    },
    Vector {
        name: "19: keys sorted regardless of body order",
        body: r#"{"c":3,"a":1,"b":2}"#,
        options: AS_SENT,
        secret: "secret",
        canonical: "a=1&b=2&c=3",
        md5: "ddda839a76f951c17ad807b3bb0e5fa8",
    },
    Vector {
        name: "20: byte-wise order: upper case < underscore < lower case",
        body: r#"{"a":"lower","_u":"underscore","A":"upper"}"#,
        options: AS_SENT,
        secret: "secret",
        canonical: "A=upper&_u=underscore&a=lower",
        md5: "fe0a5022e51fc290d266b1fc0151604a",
    },
    Vector {
        name: "21: the string \"0\" stays; numeric zero goes",
        body: r#"{"note":"0","order_no":"zero-string","refund_amount":0,"fee":-0.0}"#,
        options: AS_SENT,
        secret: "secret",
        canonical: "note=0&order_no=zero-string",
        md5: "4a7617809c80c03dcbb28a18d6060566",
    },
    Vector {
        name: "22: separators inside values are not escaped",
        body: r#"{"order_no":"with spaces and = and &amp;"}"#,
        options: AS_SENT,
        secret: "secret",
        canonical: "order_no=with spaces and = and &amp;",
        md5: "3e36507f6e1acdba39490809db42c271",
    },
    Vector {
        name: "23: true stays, false goes",
        body: r#"{"flag":true,"off":false,"order_no":"bools"}"#,
        options: AS_SENT,
        secret: "secret",
        canonical: "flag=true&order_no=bools",
        md5: "c8da0adf7b91042f02f4c2a7d2a4fd55",
    },
    Vector {
        name: "24: the smallest amount; a large merchant id as plain digits",
        body: r#"{"merchant_id":8820250900009,"order_amount":0.01,"order_no":"min"}"#,
        options: TWO,
        secret: "secret",
        canonical: "merchant_id=8820250900009&order_amount=0.01&order_no=min",
        md5: "4ed4b55a119b849b8eb070204dc85b27",
    },
    Vector {
        name: "25: payout success callback, type 1 kept",
        body: r#"{"type":1,"merchant_id":1,"order_no":"payout0003","order_amount":106,"pay_time":"2025-08-05 16:43:55","status":2,"reason":"success"}"#,
        options: TWO,
        secret: DOC_SECRET,
        canonical: "merchant_id=1&order_amount=106.00&order_no=payout0003&pay_time=2025-08-05 16:43:55&reason=success&status=2&type=1",
        md5: "47a654ca4d9a3e1f45c3ee13d84dc93b",
    },
    Vector {
        name: "26: refunding callback",
        body: r#"{"type":0,"merchant_id":1,"order_no":"r-1","order_amount":30,"merchant_refund_no":["R1","R2"],"refund_amount":12.5,"status":9,"reason":"refunding"}"#,
        options: TWO,
        secret: "s3cr3t",
        canonical: "merchant_id=1&merchant_refund_no=R1,R2&order_amount=30.00&order_no=r-1&reason=refunding&refund_amount=12.50&status=9",
        md5: "97b09055b57675dcffacf2ac4d31fd3a",
    },
];

#[test]
fn known_answer_vectors() {
    assert!(VECTORS.len() >= 20);
    for v in VECTORS {
        let fields =
            SignFields::from_json(v.body.as_bytes()).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(fields.canonical(v.options), v.canonical, "{}", v.name);
        let secret = Secret::new(v.secret).expect("non-empty");
        assert_eq!(
            fields.sign(v.options, &secret).as_str(),
            v.md5,
            "{}",
            v.name
        );
    }
}

#[test]
fn builder_matches_parsed_body() {
    let secret = Secret::new(DOC_SECRET).expect("non-empty");
    let amount = Amount::from_minor(500).expect("positive");
    let fields = SignFields::new()
        .str("currency", "USD")
        .int("merchant_id", 8820250900009)
        .str("notify_url", "https://rbaskets.trustpay.money/checkout")
        .amount("order_amount", amount, AmountRendering::TwoDecimals)
        .str("order_no", "local-test-payin-319");
    let body = fields.signed_body(&secret);
    assert_eq!(
        body,
        r#"{"currency":"USD","merchant_id":8820250900009,"notify_url":"https://rbaskets.trustpay.money/checkout","order_amount":5.00,"order_no":"local-test-payin-319","sign":"74d28fe52c0457441f7fa2b3a62b6085"}"#
    );
    // What a receiver reads back from our body signs to what we put in it.
    let parsed = SignFields::from_json(body.as_bytes()).expect("our own body parses");
    assert!(
        parsed
            .sign(SignOptions::AS_SENT, &secret)
            .matches("74d28fe52c0457441f7fa2b3a62b6085")
    );

    let trimmed = fields
        .clone()
        .amount("order_amount", amount, AmountRendering::Trimmed);
    assert!(
        trimmed
            .signed_body(&secret)
            .contains(r#""order_amount":5,"#)
    );
    assert!(
        trimmed
            .signed_body(&secret)
            .ends_with(r#""sign":"5d127dbcf521c8278d2ba2e07e3d0924"}"#)
    );
}

#[test]
fn signed_body_escapes_json_but_signs_raw_text() {
    let secret = Secret::new("k").expect("non-empty");
    let fields = SignFields::new()
        .str("reason", "say \"hi\"\n")
        .str("order_no", "a&b");
    let body = fields.signed_body(&secret);
    let value: serde_json::Value = serde_json::from_str(&body).expect("valid JSON");
    assert_eq!(value["reason"], "say \"hi\"\n");
    assert_eq!(
        fields.canonical(SignOptions::AS_SENT),
        "order_no=a&b&reason=say \"hi\"\n"
    );
}

#[test]
fn sign_field_is_ignored_and_duplicates_refused() {
    let a = SignFields::from_json(br#"{"order_no":"x","sign":"abc"}"#).expect("object");
    let b = SignFields::from_json(br#"{"order_no":"x"}"#).expect("object");
    assert_eq!(
        a.canonical(SignOptions::AS_SENT),
        b.canonical(SignOptions::AS_SENT)
    );
    assert_eq!(
        SignFields::from_json(br#"{"status":5,"status":3}"#),
        Err(SignError::DuplicateKey("status".into()))
    );
    for bad in [&b"[1,2]"[..], b"42", b"", b"{", b"{\"a\":}", b"null"] {
        assert!(
            matches!(SignFields::from_json(bad), Err(SignError::NotAnObject(_))),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn key_count_is_bounded() {
    let body = |n: usize| {
        let keys: Vec<String> = (0..n).map(|i| format!("\"k{i}\":1")).collect();
        format!("{{{}}}", keys.join(","))
    };
    let fields = SignFields::from_json(body(MAX_FIELDS).as_bytes()).expect("at the bound");
    assert!(fields.get(&format!("k{}", MAX_FIELDS - 1)).is_some());
    assert_eq!(
        SignFields::from_json(body(MAX_FIELDS + 1).as_bytes()),
        Err(SignError::TooManyFields)
    );
    // A 63 KB body of thousands of keys stops at the bound, whatever follows it.
    let mut huge = body(8_000);
    huge.truncate(63 * 1024);
    assert_eq!(
        SignFields::from_json(huge.as_bytes()),
        Err(SignError::TooManyFields)
    );
}

#[test]
fn duplicates_found_anywhere_within_the_bound() {
    let mut keys: Vec<String> = (0..MAX_FIELDS - 1).map(|i| format!("\"k{i}\":1")).collect();
    keys.push("\"k0\":2".to_owned());
    let body = format!("{{{}}}", keys.join(","));
    assert_eq!(
        SignFields::from_json(body.as_bytes()),
        Err(SignError::DuplicateKey("k0".into()))
    );
    // Keys equal after unescaping are the same key.
    assert_eq!(
        SignFields::from_json(br#"{"a":1,"\u0061":2}"#),
        Err(SignError::DuplicateKey("a".into()))
    );
}

#[test]
fn numeric_zero_in_every_spelling() {
    for zero in ["0", "0.0", "0.00", "-0", "0e5", "0.000E-2"] {
        assert!(is_numeric_zero(zero), "{zero}");
    }
    for non_zero in ["1", "0.01", "10", "1e0", "-0.1"] {
        assert!(!is_numeric_zero(non_zero), "{non_zero}");
    }
}

#[test]
fn sign_comparison_is_exact() {
    let fields = SignFields::from_json(DOC_CALLBACK.as_bytes()).expect("object");
    let sign = fields.sign(TWO, &Secret::new(DOC_SECRET).expect("non-empty"));
    assert!(sign.matches("f0b08c8ea0537a9974e926a2f9aa6d83"));
    assert!(
        !sign.matches("F0B08C8EA0537A9974E926A2F9AA6D83"),
        "the docs say lowercase"
    );
    assert!(!sign.matches("f0b08c8ea0537a9974e926a2f9aa6d8"));
    assert!(!sign.matches(""));
}
