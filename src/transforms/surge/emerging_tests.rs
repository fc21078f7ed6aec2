//! Synthetic customer traffic through the emerging-phrase tracker and the detector, with
//! injected time: ordinary chatter for a day, then what the test is about.

use super::sim::{self, Rng};
use super::*;
use time::{Duration, OffsetDateTime};

const DAY: i64 = 1440;

/// What customers say every day: ordinary requests, a few with a detail that varies by caller.
const CHATTER: &[&str] = &[
    "你好，我想查一下我的账户余额",
    "请问信用卡的还款日是哪天",
    "我想咨询一下你们的理财产品",
    "帮我转人工服务吧",
    "我的手机号换了，想改一下预留手机号",
    "这个月的账单怎么还没收到",
    "请问附近的网点几点关门",
    "我要办一张新的借记卡",
    "谢谢，没有别的问题了",
    "好的，我知道了",
    "我想开通短信提醒",
    "积分可以换什么礼品",
    "我想提高一下信用卡额度",
    "房贷的利率是多少",
    "外币兑换需要带什么证件",
    "I want to check my account balance",
    "how do I activate my new card",
];
const PLACES: &[&str] = &[
    "北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "西安", "南京", "重庆", "天津", "苏州",
    "长沙", "郑州", "青岛", "大连", "厦门", "宁波", "合肥", "昆明",
];

/// A new problem, said in different words by different callers.
const PROBLEM: &[&str] = &[
    "你好，我手机银行登录不了",
    "登录不了啊，页面一直在转",
    "你们的app登录不了怎么回事",
    "从早上开始就登录不了了",
];

struct Traffic {
    tracker: EmergingTracker,
    detector: SurgeDetector,
    rng: Rng,
    next_call: u64,
    alerts: Vec<(i64, SurgeAlert)>,
}

impl Traffic {
    fn new(cfg: SurgeConfig, seed: u64) -> Traffic {
        let t0 = sim::epoch();
        Traffic {
            tracker: EmergingTracker::new(cfg.clone(), t0),
            detector: SurgeDetector::new(cfg, t0),
            rng: Rng::new(seed),
            next_call: 0,
            alerts: Vec::new(),
        }
    }

    fn at(m: i64, sec: i64) -> OffsetDateTime {
        sim::epoch() + Duration::minutes(m) + Duration::seconds(sec)
    }

    fn say(&mut self, call: &str, text: &str, at: OffsetDateTime) {
        self.tracker
            .observe(call, text, &[], at, &mut self.detector);
    }

    /// One ordinary call at minute `m`: two requests, sometimes with a place.
    fn chatter_call(&mut self, m: i64) {
        self.next_call += 1;
        let call = format!("c{}", self.next_call);
        for i in 0..2 {
            let s = CHATTER[(self.rng.next_u64() % CHATTER.len() as u64) as usize];
            self.say(&call, s, Self::at(m, i * 20));
        }
        if self.rng.unit() < 0.3 {
            let p = PLACES[(self.rng.next_u64() % PLACES.len() as u64) as usize];
            self.say(&call, &format!("我现在在{p}出差"), Self::at(m, 50));
        }
    }

    fn problem_call(&mut self, m: i64) {
        self.next_call += 1;
        let call = format!("p{}", self.next_call);
        let s = PROBLEM[(self.rng.next_u64() % PROBLEM.len() as u64) as usize];
        self.say(&call, "你好", Self::at(m, 5));
        self.say(&call, s, Self::at(m, 15));
    }

    fn tick(&mut self, m: i64) {
        let now = Self::at(m, 0);
        self.tracker.tick(now, &mut self.detector);
        for a in self.detector.tick(now) {
            self.alerts.push((m, a));
        }
    }

    /// Runs minutes `from..to` with `rate` ordinary calls a minute and `extra(m)` more calls.
    fn run(&mut self, from: i64, to: i64, rate: f64, mut extra: impl FnMut(&mut Traffic, i64)) {
        for m in from..to {
            for _ in 0..self.rng.poisson(rate) {
                self.chatter_call(m);
            }
            extra(self, m);
            self.tick(m + 1);
        }
    }

    fn emerging(&self, state: SurgeState) -> Vec<(i64, &SurgeAlert)> {
        self.alerts
            .iter()
            .filter(|(_, a)| a.metric == Metric::Emerging && a.state == state)
            .map(|(m, a)| (*m, a))
            .collect()
    }
}

#[test]
fn a_new_problem_across_thirty_calls_surfaces_as_one_emerging_phrase() {
    let mut t = Traffic::new(SurgeConfig::default(), 1);
    t.run(0, DAY, 2.0, |_, _| {});
    assert!(t.emerging(SurgeState::Raised).is_empty());
    // From 10:00 on the second day, 30 callers in 20 minutes cannot log in.
    let onset = DAY + 600;
    let mut left = 30;
    t.run(DAY, DAY + 720, 2.0, |t, m| {
        if m >= onset && left > 0 && (m - onset) % 2 == 0 {
            for _ in 0..3 {
                t.problem_call(m);
            }
            left -= 3;
        }
    });
    let raised = t.emerging(SurgeState::Raised);
    let login: Vec<_> = raised.iter().filter(|(_, a)| a.key == "登录不了").collect();
    assert_eq!(
        login.len(),
        1,
        "{raised:#?}\nwatched: {:?}",
        t.tracker.phrases()
    );
    let (m, a) = login[0];
    assert!(
        *m > onset && *m <= onset + 20,
        "raised at minute {}",
        m - onset
    );
    assert!(a.observed >= 10 && a.p_value < 1e-5, "{a:#?}");
    // Its pieces (登录, 登录不, 录不了) are not reported on their own; anything else raised is
    // a phrase the problem callers said, not chatter.
    for (_, a) in &raised {
        assert!(
            PROBLEM.iter().any(|p| p.contains(&a.key)) && a.key.chars().count() > 3,
            "{a:#?}"
        );
    }
    // The phrase shows in the detector's status (what /v1/topics lists as emerging).
    let s = t
        .detector
        .status(Some(Metric::Emerging), 60, Traffic::at(onset + 30, 0));
    assert!(
        s.iter().any(|k| k.key == "登录不了" && k.count >= 25),
        "{s:#?}"
    );
    // It clears once the callers stop.
    let cleared = t.emerging(SurgeState::Cleared);
    assert!(
        cleared.iter().any(|(_, c)| c.surge_id == a.surge_id),
        "{cleared:#?}"
    );
}

#[test]
fn one_caller_repeating_a_new_phrase_is_not_a_trend() {
    let mut t = Traffic::new(SurgeConfig::default(), 2);
    t.run(0, DAY, 2.0, |_, _| {});
    let onset = DAY + 600;
    t.run(DAY, DAY + 120, 2.0, |t, m| {
        if (onset..onset + 30).contains(&m) {
            t.say(
                "angry",
                "登录不了，登录不了，还是登录不了",
                Traffic::at(m, 30),
            );
        }
    });
    assert!(t.emerging(SurgeState::Raised).is_empty(), "{:#?}", t.alerts);
    assert!(t.tracker.phrases().is_empty(), "{:?}", t.tracker.phrases());
}

#[test]
fn ordinary_chatter_raises_nothing_even_when_busier_than_usual() {
    let mut t = Traffic::new(SurgeConfig::default(), 3);
    t.run(0, DAY, 2.0, |_, _| {});
    // The next day is busier (3x for two hours): calls surge, their words do not, since every
    // one of them is ordinary vocabulary by its share of calls.
    t.run(DAY, 2 * DAY, 2.0, |t, m| {
        if (DAY + 600..DAY + 720).contains(&m) {
            for _ in 0..t.rng.poisson(4.0) {
                t.chatter_call(m);
            }
        }
    });
    assert!(
        t.emerging(SurgeState::Raised).is_empty(),
        "{:#?}",
        t.emerging(SurgeState::Raised)
    );
}

#[test]
fn before_a_day_is_learned_nothing_is_promoted() {
    // Without a day of vocabulary every gram looks new; the tracker waits for warmup_days.
    let mut t = Traffic::new(SurgeConfig::default(), 4);
    t.run(0, 600, 2.0, |t, m| {
        if m >= 300 {
            t.problem_call(m);
        }
    });
    assert!(t.tracker.phrases().is_empty(), "{:?}", t.tracker.phrases());
}

#[test]
fn memory_stays_within_max_grams() {
    let cfg = SurgeConfig {
        emerging: EmergingConfig {
            max_grams: 2000,
            ..EmergingConfig::default()
        },
        ..SurgeConfig::default()
    };
    let mut t = Traffic::new(cfg, 5);
    // Every call says something unique: the table must forget, and keep the common words.
    t.run(0, 240, 2.0, |t, m| {
        let n = t.rng.next_u64();
        let unique: String = (0..8)
            .map(|i| char::from_u32(0x4E00 + ((n >> (i * 8)) % 2000) as u32).unwrap())
            .collect();
        t.say(&format!("u{m}"), &unique, Traffic::at(m, 40));
        assert!(t.tracker.gram_count() <= 2000);
    });
    assert!(t.tracker.gram_count() > 1000);
}

#[test]
fn emerging_config_is_validated() {
    type Edit = fn(&mut EmergingConfig);
    let table: [(Edit, &str); 4] = [
        (|c| c.min_calls = 1, "emerging.min_calls"),
        (|c| c.stop_share = 0.0, "emerging.stop_share"),
        (|c| c.overlap = 1.5, "emerging.overlap"),
        (|c| c.max_grams = 10, "emerging.max_grams"),
    ];
    for (f, key) in table {
        let mut c = SurgeConfig::default();
        f(&mut c.emerging);
        let e = c.validate().unwrap_err();
        assert!(e.contains(key), "{e}");
    }
}
