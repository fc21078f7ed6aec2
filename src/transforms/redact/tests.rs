//! Redaction tables, properties and the cross-partial / cross-utterance cases.

use super::*;
use proptest::prelude::*;
use std::sync::Arc;

fn card16() -> String {
    let body = "622202123456789012";
    format!("{body}{}", luhn_check_digit(body))
}

/// The default redactor with bare card labels, so tables read `[卡号]` whatever the card.
fn bare() -> Redactor {
    Redactor::new(&RedactConfig {
        card_display: CardDisplay::None,
        ..RedactConfig::default()
    })
    .unwrap()
}

fn redact(text: &str) -> String {
    bare().redact(text, "").text
}

#[test]
fn table() {
    let amounts = Redactor::new(&RedactConfig {
        categories: Category::ALL.to_vec(),
        card_display: CardDisplay::None,
        ..RedactConfig::default()
    })
    .unwrap();
    let cases: &[(&str, &str)] = &[
        // Cards: Luhn-valid in every form; Luhn-invalid but long is still removed.
        ("卡号是6222021234567890128", "卡号是[卡号]"),
        ("卡号是 6222 0212 3456 7890 128。", "卡号是 [卡号]。"),
        ("卡号六二二二零二一二三四五六七八九零一二八", "卡号[卡号]"),
        ("卡号六二二二，零二一二，三四五六，七八九零，一二八", "卡号[卡号]"),
        ("卡号６２２２０２１２３４５６７８９０１２８", "卡号[卡号]"),
        ("4111-1111-1111-1111 please", "[CARD] please"),
        (
            "my card is six two two two oh two one two three four five six seven eight nine oh one two eight",
            "my card is [CARD]",
        ),
        ("卡号6222021234567890127", "卡号[号码]"),
        // Resident IDs, X check characters included.
        ("身份证110105194912310021号", "身份证[号码]号"),
        ("身份证号11010519491231002X", "身份证号[身份证号]"),
        ("身份证号 11010519491231002x。", "身份证号 [身份证号]。"),
        ("身份证幺幺零幺零五幺九四九幺二三幺零零二叉", "身份证[身份证号]"),
        ("id 310115198001011238 ok", "id [ID] ok"),
        // Mobiles.
        ("手机13812345678", "手机[手机号]"),
        ("手机 +86 138 1234 5678", "手机 [手机号]"),
        ("手机8613812345678", "手机[手机号]"),
        ("手机幺三八幺二三四五六七八", "手机[手机号]"),
        ("手机 一三八-一二三四-五六七八", "手机 [手机号]"),
        ("call me at one three eight one two three four five six seven eight", "call me at [PHONE]"),
        // Codes need their keyword.
        ("验证码是482913", "验证码是[验证码]"),
        ("验证码是 4 8 2 9 1 3，", "验证码是 [验证码]，"),
        ("验证码四八二九一三", "验证码[验证码]"),
        ("482913是您的验证码", "[验证码]是您的验证码"),
        ("the verification code is four eight two nine", "the verification code is [CODE]"),
        ("your code: 4829", "your code: [CODE]"),
        ("我买了482913号商品", "我买了482913号商品"),
        // What must stay.
        ("下午三点", "下午三点"),
        ("我有 2 个问题", "我有 2 个问题"),
        ("第一，第二", "第一，第二"),
        ("2024年开的户", "2024年开的户"),
        ("I opened it in 2024.", "I opened it in 2024."),
        ("我要打12378投诉", "我要打12378投诉"),
        ("打一二三六三", "打一二三六三"),
        ("one moment, oh I see", "one moment, oh I see"),
        ("一九九五年", "一九九五年"),
        ("三五个人一起", "三五个人一起"),
        ("借了五万块", "借了五万块"),
        ("", ""),
    ];
    for (text, want) in cases {
        assert_eq!(redact(text), *want, "{text}");
    }
    for (text, want) in [
        ("借了五万块", "借了[金额]"),
        ("转账 5,000.50 元到", "转账 [金额]到"),
        ("金额是三千五百元", "金额是[金额]"),
        ("transfer $300 now", "transfer [AMOUNT] now"),
        ("下午三点", "下午三点"),
        ("卡号6222021234567890128", "卡号[卡号]"),
    ] {
        assert_eq!(amounts.redact(text, "").text, want, "{text}");
    }
}

#[test]
fn redactions_report_category_and_spans() {
    let r = bare().redact("手机13812345678，验证码482913", "zh");
    let cats: Vec<Category> = r.redactions.iter().map(|x| x.category).collect();
    assert_eq!(cats, [Category::Mobile, Category::Code]);
    let chars: Vec<char> = r.text.chars().collect();
    for x in &r.redactions {
        let label: String = chars[x.start..x.end].iter().collect();
        assert_eq!(label, x.category.zh_label());
    }
    assert_eq!(
        (r.redactions[0].source_start, r.redactions[0].source_end),
        (2, 13)
    );
}

#[test]
fn labels_follow_the_language_or_the_configuration() {
    let d = bare();
    assert_eq!(d.redact("13812345678", "en").text, "[PHONE]");
    assert_eq!(d.redact("13812345678", "zh").text, "[手机号]");
    assert_eq!(d.redact("手机13812345678", "").text, "手机[手机号]");
    let en = Redactor::new(&RedactConfig {
        labels: LabelLanguage::En,
        custom_labels: [(Category::Mobile, "<mobile>".to_string())].into(),
        card_display: CardDisplay::None,
        ..RedactConfig::default()
    })
    .unwrap();
    assert_eq!(
        en.redact("手机13812345678 卡6222021234567890128", "zh")
            .text,
        "手机<mobile> 卡[CARD]"
    );
    let bad = RedactConfig {
        custom_labels: [(Category::Card, "[card 1]".to_string())].into(),
        card_display: CardDisplay::None,
        ..RedactConfig::default()
    };
    let e = Redactor::new(&bad).unwrap_err().to_string();
    assert!(e.contains("card") && e.contains("digit"), "{e}");
}

#[test]
fn categories_and_switch_are_honoured() {
    let text = "手机13812345678 卡6222021234567890128";
    assert_eq!(Redactor::disabled().redact(text, "").text, text);
    let only_card = Redactor::new(&RedactConfig {
        categories: vec![Category::Card],
        card_display: CardDisplay::None,
        ..RedactConfig::default()
    })
    .unwrap();
    assert_eq!(only_card.redact(text, "").text, "手机13812345678 卡[卡号]");
}

fn leg() -> LegRedactor {
    LegRedactor::new(Arc::new(bare()))
}

#[test]
fn partials_never_show_more_than_five_digits_of_a_number_being_read() {
    let card = card16();
    let leg = leg();
    for n in 0..=card.len() {
        let text = format!("我的卡号是{}", &card[..n]);
        let out = leg.partial(&text, "zh").text;
        let shown = out.chars().filter(char::is_ascii_digit).count();
        assert!(shown < TAIL_DIGITS, "{text} -> {out}");
    }
    // The final of a whole card is labelled as one.
    assert_eq!(
        leg.partial(&format!("卡号{card}。"), "zh").text,
        "卡号[卡号]。"
    );
}

#[test]
fn a_number_split_across_two_utterances_is_redacted_in_both() {
    // Spoken as 6222 0212 3456 | 7890 128, with a pause that ends the first utterance.
    let mut leg = leg();
    assert_eq!(
        leg.finish("卡号是6222 0212 3456。", "zh").text,
        "卡号是[号码]。"
    );
    // The first 16 digits do not validate yet; over 11 digits they are masked all the same.
    assert_eq!(leg.partial("7890", "zh").text, "[号码]");
    assert_eq!(leg.finish("7890 128。", "zh").text, "[卡号]。");
    // The leg moves on: ordinary short numbers after a complete number stay.
    assert_eq!(
        leg.finish("好的，3 点前办好。", "zh").text,
        "好的，3 点前办好。"
    );

    // A mobile number read as 138 | 1234 5678: the first part alone is too short to mask.
    let mut leg = leg_of_chain(&["手机号是一三八。"]);
    assert_eq!(leg.finish("一二三四五六七八。", "zh").text, "[手机号]。");

    // Three pieces: the middle one is only a number, so the carry grows.
    let mut leg = leg_of_chain(&["卡号6222。", "0212。"]);
    assert_eq!(leg.finish("3456 7890 128", "zh").text, "[卡号]");

    // A complete mobile, then a new utterance starting with a small number: nothing joined.
    let mut leg = leg_of_chain(&["手机13812345678。"]);
    assert_eq!(leg.finish("3 个工作日", "zh").text, "3 个工作日");
}

/// Regression: "four five three two, um, zero one five one, yes, …" came out of the
/// recogniser as "4532, 0151, yes, 1283, okay, 0366" and the whole card went out in clear.
#[test]
fn groups_with_filler_words_between_them_are_one_number() {
    let en = |t: &str| bare().redact(t, "en").text;
    assert_eq!(
        en("My card number is 4532, 0151, yes, 1283, okay, 0366."),
        "My card number is [CARD]."
    );
    assert_eq!(
        en("My card number is four five three two, um, zero one five one, yes, one two eight three, okay, zero three six six."),
        "My card number is [CARD]."
    );
    assert_eq!(
        bare()
            .redact(
                "卡号是六二二二，嗯，零二一二，对，三四五六，然后七八九零，一二八。",
                "zh"
            )
            .text,
        "卡号是[卡号]。"
    );
    // 洞 for zero, "double" and "triple" as people read phone numbers.
    assert_eq!(redact("幺三八洞洞洞洞一二三四"), "[手机号]");
    assert_eq!(
        en("it's one three eight double oh double one two three four five"),
        "it's [PHONE]"
    );
    let chars: Vec<char> = "one triple two".chars().collect();
    assert_eq!(super::scan::digit_runs(&chars)[0].digits, "1222");
    // Fillers do not glue short numbers into long ones far apart, nor stretch a span.
    assert_eq!(
        en("Room 12, yes, and then floor 3."),
        "Room 12, yes, and then floor 3."
    );
    assert_eq!(en("3 um"), "3 um");
}

#[test]
fn a_number_asked_for_on_the_other_leg_is_read_as_the_answer() {
    let mut leg = leg();
    let text = "It is four eight two nine one six, I think";
    assert_eq!(leg.finish(text, "en").text, text, "no keyword, no request");
    leg.set_asked(Some(Category::Code));
    assert_eq!(leg.finish(text, "en").text, "It is [CODE], I think");
    leg.set_asked(Some(Category::Card));
    assert_eq!(leg.partial("好的，四五三二", "zh").text, "好的，[号码]");
    leg.set_asked(None);
    assert_eq!(leg.partial("好的，四五三二", "zh").text, "好的，四五三二");
}

/// Regression: an ID read across two utterances and cut after 11 digits that begin with 1.
/// The first part was masked as a mobile number and that closed the number, so the rest
/// (`9033 77X`) went out in clear.
#[test]
fn a_mobile_guess_does_not_close_the_door_on_the_id_it_begins() {
    let mut leg = leg();
    assert_eq!(
        leg.finish("号码是18495019900。", "zh").text,
        "号码是[手机号]。"
    );
    assert_eq!(leg.finish("9033 77X。", "zh").text, "[身份证号]。");

    let mut leg = leg_of_chain(&["身份证号一八四九五零一九九零零。"]);
    assert_eq!(leg.finish("九零三三七七叉。", "zh").text, "[身份证号]。");

    // The whole ID in one utterance, for comparison.
    assert_eq!(bare().redact("18495019900903377X", "zh").text, "[身份证号]");

    // After a complete mobile, a later X that does not finish an ID stays an ordinary letter.
    let mut leg = leg_of_chain(&["手机13812345678。"]);
    assert_eq!(leg.finish("room 12 X。", "en").text, "room 12 X。");
    // Carried digits count only when the next text opens with the continuation.
    let mut leg = leg_of_chain(&["号码是18495019900。"]);
    assert_eq!(leg.finish("房间 903377X。", "zh").text, "房间 903377X。");
    // A filler word before the continuation does not break it.
    let mut leg = leg_of_chain(&["号码是18495019900。"]);
    assert_eq!(leg.finish("好的 903377X。", "zh").text, "好的 [身份证号]。");
}

fn leg_of_chain(finals: &[&str]) -> LegRedactor {
    let mut leg = leg();
    for f in finals {
        leg.finish(f, "zh");
    }
    leg
}

#[test]
fn a_code_announced_at_the_end_of_one_utterance_is_redacted_in_the_next() {
    let mut leg = leg_of_chain(&["我收到的验证码是"]);
    assert_eq!(leg.finish("四八二九一三。", "zh").text, "[验证码]。");
    // Only the utterance right after the keyword...
    let mut leg = leg_of_chain(&["我收到的验证码是", "我看一下短信。"]);
    assert_eq!(leg.finish("四八二九。", "zh").text, "四八二九。");
    // ...where an utterance of nothing but fillers does not count.
    let mut leg = leg_of_chain(&["我收到的验证码是", "好的。"]);
    assert_eq!(leg.finish("四八二九。", "zh").text, "[验证码]。");
    // "The code is" at the end of one utterance, the code in the next.
    let mut leg = leg_of_chain(&["The one-time code is"]);
    assert_eq!(
        leg.finish("two three four-five seven four.", "en").text,
        "[CODE]."
    );
}

/// Regressions found by the generated corpus (`tests/redaction_corpus.rs`): numbers read in
/// pieces across utterances never show more than one short piece.
#[test]
fn numbers_read_in_pieces_across_utterances_show_at_most_one_piece() {
    // A card: 424 may show (five digits at most ever do), the next piece is masked.
    let mut leg = leg_of_chain(&["卡号是424，"]);
    assert_eq!(leg.finish("四七三", "zh").text, "[号码]");
    // A code in two halves: both masked.
    let mut leg = self::leg();
    assert_eq!(leg.finish("验证码是九一三", "zh").text, "验证码是[验证码]");
    assert_eq!(leg.finish("一三一。", "zh").text, "[验证码]。");
    // An utterance of only a comma between the pieces keeps the number open.
    let mut leg = leg_of_chain(&["My mobile number is 145", ","]);
    assert!(!leg
        .finish("8043, 8785. I pay 3200 a month.", "en")
        .text
        .contains("8043"));
    // Asked for a card: once it is masked, the amount after it is ordinary speech.
    let mut leg = self::leg();
    leg.set_asked(Some(Category::Card));
    let out = leg.finish("好的，6222021234567890128，谢谢。每个月还1500块钱。", "zh");
    assert_eq!(out.text, "好的，[卡号]，谢谢。每个月还1500块钱。");
    // Asked for a code: the amount after the code stays.
    let mut leg = leg_of_chain(&["嗯，零四一"]);
    leg.set_asked(Some(Category::Code));
    let out = leg.finish("零八五，谢谢。我想转账1200元。", "zh");
    assert!(out.text.contains("1200元"), "{}", out.text);
}

#[test]
fn segments_of_a_final_are_redacted_too() {
    use crate::transforms::asr::{TimedText, Transcript};
    let seg = |text: &str| TimedText {
        start_ms: 0,
        end_ms: 1,
        text: text.to_string(),
        no_speech_prob: 0.0,
    };
    let t = Transcript {
        text: "卡号6222 0212 3456 7890 128".into(),
        language: "zh".into(),
        segments: vec![seg("卡号6222 0212"), seg("3456 7890 128")],
        dropped: None,
        language_share: None,
        looped: false,
    };
    let out = leg().final_transcript(t);
    assert_eq!(out.text, "卡号[卡号]");
    assert_eq!(out.segments[0].text, "卡号[号码]");
    assert_eq!(out.segments[1].text, "[卡号]");
}

/// Ways a digit string may be written or spoken.
fn spell(digits: &str, form: u8, sep: &str, group: usize) -> String {
    const ZH: [&str; 10] = ["零", "幺", "二", "三", "四", "五", "六", "七", "八", "九"];
    const ZH2: [&str; 10] = ["〇", "一", "两", "三", "四", "五", "六", "七", "八", "九"];
    const EN: [&str; 10] = [
        "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ];
    let one = |c: char| -> String {
        let d = c.to_digit(10).map(|d| d as usize);
        match (form, d) {
            (_, None) => c.to_string(),
            (0, _) => c.to_string(),
            (1, Some(d)) => char::from_u32('０' as u32 + d as u32).unwrap().to_string(),
            (2, Some(d)) => ZH[d].to_string(),
            (3, Some(d)) => ZH2[d].to_string(),
            (_, Some(d)) => format!("{} ", EN[d]),
        }
    };
    let chars: Vec<char> = digits.chars().collect();
    chars
        .chunks(group.max(1))
        .map(|g| {
            g.iter()
                .map(|c| one(*c))
                .collect::<String>()
                .trim()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join(if form == 4 { " " } else { sep })
}

fn arb_card() -> impl Strategy<Value = String> {
    (12usize..=18, proptest::collection::vec(0u8..10, 18)).prop_map(|(n, ds)| {
        let mut body: String = ds[..n].iter().map(|d| char::from(b'0' + d)).collect();
        body.replace_range(0..1, "6");
        let check = luhn_check_digit(&body);
        body.push(check);
        body
    })
}

fn arb_id() -> impl Strategy<Value = String> {
    (
        110000u32..660000,
        1900u32..2025,
        1u32..=12,
        1u32..=28,
        0u32..1000,
    )
        .prop_map(|(region, y, m, d, seq)| {
            let body = format!("{region}{y:04}{m:02}{d:02}{seq:03}");
            let check = id_check_char(&body).unwrap();
            format!("{body}{check}")
        })
}

fn arb_mobile() -> impl Strategy<Value = String> {
    (3u8..=9, 0u64..1_000_000_000, any::<bool>())
        .prop_map(|(second, rest, cc)| format!("{}1{second}{rest:09}", if cc { "+86" } else { "" }))
}

fn arb_pii() -> impl Strategy<Value = String> {
    prop_oneof![arb_card(), arb_id(), arb_mobile()]
}

/// What people say between the groups of a number they read out.
const FILLERS: &[&str] = &[
    ", um, ",
    " uh ",
    ", yes, ",
    " okay ",
    ", right, ",
    "，嗯，",
    "，对，",
    "然后",
    "，好的，",
];

const CONTEXTS: &[(&str, &str)] = &[
    ("我的卡号是", "，谢谢。"),
    ("", ""),
    ("my number is ", " thanks"),
    ("身份证号码", "。"),
    ("号码是：", ""),
];

/// The text with every label blanked out, after checking that no label shows more of a
/// card than its first six and last four digits.
fn outside_labels(out: &str) -> String {
    let mut chars: Vec<char> = out.chars().collect();
    for (s, e) in Redactor::default().label_spans(&chars) {
        let shown = chars[s..e].iter().filter(|c| c.is_ascii_digit()).count();
        assert!(shown <= 10, "a label shows {shown} digits in {out}");
        chars[s..e].iter_mut().for_each(|c| *c = ' ');
    }
    chars.into_iter().collect()
}

/// The digits of `digits` (no `+`, no `X`) read back from redacted text in any form, outside
/// the labels.
fn leaked(out: &str, digits: &str) -> bool {
    let out = outside_labels(out);
    let chars: Vec<char> = out.chars().collect();
    let run: String = super::scan::digit_runs(&chars)
        .into_iter()
        .map(|r| r.digits)
        .collect();
    let core: String = digits.chars().filter(char::is_ascii_digit).collect();
    run.contains(&core[core.len().saturating_sub(6)..]) || out.contains(digits)
}

proptest! {
    #[test]
    fn valid_numbers_never_survive_in_any_form(
        pii in arb_pii(),
        form in 0u8..5,
        sep in prop::sample::select(vec!["", " ", "-", "，", ", "]),
        group in prop::sample::select(vec![3usize, 4, 6, 18]),
        ctx in prop::sample::select(CONTEXTS.to_vec()),
    ) {
        let spoken = spell(&pii, form, sep, group);
        let text = format!("{}{}{}", ctx.0, spoken, ctx.1);
        let out = Redactor::default().redact(&text, "");
        prop_assert!(!leaked(&out.text, &pii), "{} -> {}", text, out.text);
        prop_assert!(!out.redactions.is_empty());
    }

    #[test]
    fn valid_numbers_split_between_utterances_never_survive(
        pii in arb_pii(),
        cut in 1usize..17,
        form in prop::sample::select(vec![0u8, 2, 4]),
        lead in prop::sample::select(vec!["", "嗯，", "um, ", "yes ", "对，"]),
    ) {
        let cut = cut.min(pii.len() - 1);
        let (a, b) = pii.split_at(cut);
        let mut leg = LegRedactor::new(Arc::new(Redactor::default()));
        let first = leg.finish(&format!("号码是{}。", spell(a, form, " ", 4)), "").text;
        let second = leg.finish(&format!("{lead}{}。", spell(b, form, " ", 4)), "").text;
        let both = outside_labels(&format!("{first}{second}"));
        let chars: Vec<char> = both.chars().collect();
        let shown: usize = super::scan::digit_runs(&chars).iter().map(|r| r.digits.len()).sum();
        prop_assert!(shown < TAIL_DIGITS, "{} | {}", first, second);
    }

    /// Groups read with a filler word between them ("4532, um, 0151, yes, …"): no valid
    /// card, ID or mobile number survives, in any spelling.
    #[test]
    fn numbers_read_with_fillers_never_survive(
        pii in arb_pii(),
        form in prop::sample::select(vec![0u8, 2, 3, 4]),
        group in prop::sample::select(vec![3usize, 4]),
        fillers in prop::collection::vec(prop::sample::select(FILLERS.to_vec()), 6),
        ctx in prop::sample::select(CONTEXTS.to_vec()),
    ) {
        let chars: Vec<char> = pii.chars().collect();
        let mut text = ctx.0.to_string();
        for (i, g) in chars.chunks(group).enumerate() {
            if i > 0 {
                text.push_str(fillers[i % fillers.len()]);
            }
            text.push_str(&spell(&g.iter().collect::<String>(), form, "", 99));
        }
        text.push_str(ctx.1);
        let out = Redactor::default().redact(&text, "");
        prop_assert!(!leaked(&out.text, &pii), "{} -> {}", text, out.text);
    }

    #[test]
    fn redaction_is_idempotent(text in "[0-9一二三四五六七八九零幺两 验证码号卡是a-z,，。\\-X+]{0,60}") {
        let r = Redactor::new(&RedactConfig {
            categories: Category::ALL.to_vec(),
            ..RedactConfig::default()
        }).unwrap();
        let once = r.redact(&text, "").text;
        let twice = r.redact(&once, "").text;
        prop_assert_eq!(&once, &twice);
    }

    #[test]
    fn text_without_numbers_is_unchanged(
        text in "[^0-9０-９零〇一二三四五六七八九幺两十百千万亿壹贰叁肆伍陆柒捌玖拾佰仟萬]{0,80}"
    ) {
        let chars: Vec<char> = text.chars().collect();
        // Spelled-out digits ("one", "oh") are numbers after all; about one case in seven.
        // Skipped rather than rejected, so long runs do not hit proptest's reject limit.
        if !super::scan::digit_runs(&chars).is_empty() {
            return Ok(());
        }
        let r = Redactor::new(&RedactConfig {
            categories: Category::ALL.to_vec(),
            ..RedactConfig::default()
        }).unwrap();
        prop_assert_eq!(r.redact(&text, "").text, text.clone());
        prop_assert_eq!(leg().partial(&text, "").text, text);
    }
}

/// Regression: the `[验证码]` label contains the fraud term 验证码, so a redacted code was
/// reported as a second hit on that term.
#[test]
fn labels_are_recognised_so_the_matcher_can_skip_them() {
    use crate::call::Speaker;
    use crate::transforms::matcher::{Lexicon, Matcher};
    let r = Redactor::default();
    let red = r.redact("您的验证码是四七二九一八，请不要告诉别人", "zh");
    assert!(red.text.contains("[验证码]"), "{}", red.text);
    let lexicon = Lexicon::parse(
        "[[term]]\ntext = \"验证码\"\ncategory = \"fraud\"\nseverity = \"high\"\n",
        "t.toml",
    )
    .unwrap();
    let matches = Matcher::new(lexicon)
        .unwrap()
        .find(&red.text, Speaker::Customer);
    assert_eq!(
        matches.len(),
        2,
        "the spoken term and the label both match the raw matcher"
    );
    let spoken: Vec<_> = matches
        .iter()
        .filter(|m| !r.within_label(&red.text, m.char_start, m.char_end))
        .collect();
    assert_eq!(spoken.len(), 1);
    assert_eq!(spoken[0].char_start, 2);
    assert!(!Redactor::disabled().within_label(&red.text, 7, 10));
}

#[test]
fn card_labels_show_at_most_the_first_six_and_last_four_digits() {
    let card = card16();
    let with = |display| {
        Redactor::new(&RedactConfig {
            card_display: display,
            ..RedactConfig::default()
        })
        .unwrap()
    };
    let text = format!("卡号是{card}，谢谢");
    let table = [
        (
            CardDisplay::First6Last4,
            "卡号是[卡号 622202*********0128]，谢谢",
        ),
        (CardDisplay::Last4, "卡号是[卡号 ***************0128]，谢谢"),
        (CardDisplay::None, "卡号是[卡号]，谢谢"),
    ];
    for (display, want) in table {
        let r = with(display);
        let once = r.redact(&text, "zh").text;
        assert_eq!(once, want, "{display:?}");
        // A second pass leaves the label alone, and the matcher knows it for one.
        assert_eq!(r.redact(&once, "zh").text, once);
        let n = once.chars().count();
        assert!(r.within_label(&once, 3, n - 3), "{once}");
    }
    // Read in groups with fillers, in English: one label, first six and last four.
    let en = Redactor::default()
        .redact(
            "My card number is four five three two, um, zero one five one, yes, one two eight three, okay, zero three six six.",
            "en",
        )
        .text;
    assert_eq!(en, "My card number is [CARD 453201******0366].");
    // Across two utterances: the start was masked where it was said, the end shows its last
    // four digits only, once words after it say the number is over.
    let mut leg = LegRedactor::new(Arc::new(Redactor::default()));
    let first = leg.finish(&format!("卡号是{}", &card[..8]), "zh").text;
    let second = leg.finish(&format!("{}，对吧？", &card[8..]), "zh").text;
    assert_eq!(first, "卡号是[号码]");
    assert_eq!(second, "[卡号 ***************0128]，对吧？");
    // A card that ends an utterance may still go on (or be the start of an ID): bare label.
    let mut leg = LegRedactor::new(Arc::new(Redactor::default()));
    assert_eq!(
        leg.finish(&format!("卡号是{card}。"), "zh").text,
        "卡号是[卡号]。"
    );
    assert_eq!(
        leg.partial(&format!("卡号是{card}"), "zh").text,
        "卡号是[卡号]"
    );
    // Text written to look like a label does not hide a number.
    let fake = format!("[卡号 {card}]");
    assert_eq!(
        Redactor::default().redact(&fake, "zh").text,
        "[卡号 [卡号 622202*********0128]]"
    );
}
