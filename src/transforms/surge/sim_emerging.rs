//! Synthetic customer speech for judging emerging-phrase detection faster than real time:
//! ordinary requests from a fixed repertoire (with a detail that varies by caller) and a new
//! problem said in different words, fed to an [`EmergingTracker`] and a [`SurgeDetector`]
//! minute by minute. `cargo bench --bench surge_sim` prints detection delays and false alerts.

use super::alert::{Metric, SurgeAlert, SurgeState};
use super::config::SurgeConfig;
use super::detector::SurgeDetector;
use super::emerging::EmergingTracker;
use super::sim::{self, Rng};
use time::{Duration, OffsetDateTime};

/// Minutes per day.
pub const DAY: i64 = 1440;

/// What customers say every day: ordinary requests, a few with a detail that varies by caller.
pub const CHATTER: &[&str] = &[
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
pub const PLACES: &[&str] = &[
    "北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "西安", "南京", "重庆", "天津", "苏州",
    "长沙", "郑州", "青岛", "大连", "厦门", "宁波", "合肥", "昆明",
];

/// A new problem, said in different words by different callers.
pub const PROBLEM: &[&str] = &[
    "你好，我手机银行登录不了",
    "登录不了啊，页面一直在转",
    "你们的app登录不了怎么回事",
    "从早上开始就登录不了了",
];

/// The tracker and detector with the traffic fed so far.
pub struct Traffic {
    pub tracker: EmergingTracker,
    pub detector: SurgeDetector,
    pub rng: Rng,
    next_call: u64,
    /// Every alert with the minute it came at.
    pub alerts: Vec<(i64, SurgeAlert)>,
}

impl Traffic {
    /// Starts watching at [`sim::epoch`].
    pub fn new(cfg: SurgeConfig, seed: u64) -> Traffic {
        let t0 = sim::epoch();
        Traffic {
            tracker: EmergingTracker::new(cfg.clone(), t0),
            detector: SurgeDetector::new(cfg, t0),
            rng: Rng::new(seed),
            next_call: 0,
            alerts: Vec::new(),
        }
    }

    /// Minute `m`, second `sec` of the simulation.
    pub fn at(m: i64, sec: i64) -> OffsetDateTime {
        sim::epoch() + Duration::minutes(m) + Duration::seconds(sec)
    }

    /// One final customer utterance.
    pub fn say(&mut self, call: &str, text: &str, at: OffsetDateTime) {
        self.tracker
            .observe(call, text, &[], at, &mut self.detector);
    }

    /// One ordinary call at minute `m`: two requests, sometimes with a place.
    pub fn chatter_call(&mut self, m: i64) {
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

    /// One call about the new problem.
    pub fn problem_call(&mut self, m: i64) {
        self.next_call += 1;
        let call = format!("p{}", self.next_call);
        let s = PROBLEM[(self.rng.next_u64() % PROBLEM.len() as u64) as usize];
        self.say(&call, "你好", Self::at(m, 5));
        self.say(&call, s, Self::at(m, 15));
    }

    /// The minute boundary `m`.
    pub fn tick(&mut self, m: i64) {
        let now = Self::at(m, 0);
        self.tracker.tick(now, &mut self.detector);
        for a in self.detector.tick(now) {
            self.alerts.push((m, a));
        }
    }

    /// Runs minutes `from..to` with `rate` ordinary calls a minute and `extra(m)` more calls.
    pub fn run(&mut self, from: i64, to: i64, rate: f64, mut extra: impl FnMut(&mut Traffic, i64)) {
        for m in from..to {
            for _ in 0..self.rng.poisson(rate) {
                self.chatter_call(m);
            }
            extra(self, m);
            self.tick(m + 1);
        }
    }

    /// Emerging-phrase alerts in `state`.
    pub fn emerging(&self, state: SurgeState) -> Vec<(i64, &SurgeAlert)> {
        self.alerts
            .iter()
            .filter(|(_, a)| a.metric == Metric::Emerging && a.state == state)
            .map(|(m, a)| (*m, a))
            .collect()
    }
}
