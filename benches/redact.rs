//! Redaction cost per 200-character utterance: one with a card, a mobile number and a
//! verification code read out in Chinese numerals and digits, one with no numbers at all.

use callwatch::transforms::redact::{Category, LegRedactor, RedactConfig, Redactor};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use std::sync::Arc;

/// Repeats `piece` up to exactly 200 chars.
fn exactly_200(piece: &str) -> String {
    piece.chars().cycle().take(200).collect()
}

fn bench(c: &mut Criterion) {
    let with_pii = exactly_200(
        "您好，我的卡号是六二二二 零二一二 三四五六 七八九零 一二八，手机13812345678，\
         刚才收到的验证码是四八二九一三，我想确认一下这笔5000元的转账是不是我本人操作的，\
         另外我的身份证号是11010519491231002X，请帮我查一下账户有没有被冻结，谢谢。",
    );
    let plain = exactly_200(
        "您好，很高兴为您服务。请问有什么可以帮您？我想查一下我的存款，另外手机银行登录不了，\
         一直提示网络错误，我已经试过重新安装了，还是不行，麻烦你们尽快处理一下，\
         这个问题已经影响到我正常使用了。",
    );
    let default = Redactor::default();
    let all = Redactor::new(&RedactConfig {
        categories: Category::ALL.to_vec(),
        ..RedactConfig::default()
    })
    .expect("valid configuration");
    let leg = LegRedactor::new(Arc::new(Redactor::default()));

    let mut group = c.benchmark_group("redact");
    group.throughput(Throughput::Elements(1));
    group.bench_function("pii_200_chars", |b| {
        b.iter(|| default.redact(black_box(&with_pii), "zh"))
    });
    group.bench_function("pii_200_chars_amounts_on", |b| {
        b.iter(|| all.redact(black_box(&with_pii), "zh"))
    });
    group.bench_function("no_numbers_200_chars", |b| {
        b.iter(|| default.redact(black_box(&plain), "zh"))
    });
    group.bench_function("leg_partial_pii_200_chars", |b| {
        b.iter(|| leg.partial(black_box(&with_pii), "zh"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
