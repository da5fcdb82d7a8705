//! CloudWatch metric math as alarms use it: `+ - * /`, parentheses, numbers and the ids of an
//! alarm's metrics (`100 * errors / invocations`). Functions (`IF`, `FILL`, ...) are refused
//! with a message, never guessed.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::InvocationRecord;
use crate::metric_query::MetricQuery;

/// Why an expression cannot be simulated: the text, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MathError(String);

impl From<String> for MathError {
    fn from(message: String) -> Self {
        MathError(message)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Number(f64),
    Id(String),
    Neg(Box<Expr>),
    Binary(char, Box<Expr>, Box<Expr>),
}

/// A metric-math expression (`+ - * /`, parentheses, numbers, metric ids) over named metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expression {
    /// The expression as written.
    pub text: String,
    /// The metrics its ids name.
    pub metrics: BTreeMap<String, MetricQuery>,
    #[serde(skip)]
    ast: Expr,
}

impl Expression {
    /// Parses `text`; every id in it must name one of `metrics`. The error says what is wrong.
    pub fn parse(text: &str, metrics: BTreeMap<String, MetricQuery>) -> Result<Expression, MathError> {
        let tokens = tokenize(text)?;
        let mut p = Parser { tokens, at: 0 };
        let ast = p.sum()?;
        if let Some(t) = p.tokens.get(p.at) {
            return Err(MathError(format!(
                "expression {text:?}: unexpected {t} (supported: + - * / ( ), numbers and metric ids)"
            )));
        }
        let mut ids = Vec::new();
        collect_ids(&ast, &mut ids);
        for id in ids {
            if !metrics.contains_key(&id) {
                let known: Vec<&String> = metrics.keys().collect();
                return Err(MathError(format!(
                    "expression {text:?} names {id}, which is no metric of the alarm (it has: {known:?}); \
                     functions such as IF or FILL are not simulated"
                )));
            }
        }
        Ok(Expression {
            text: text.to_string(),
            metrics,
            ast,
        })
    }

    /// The value over one period's invocations of `deployed` (see
    /// [`MetricQuery::value_in`]): `None` when a metric it needs has no data, or on a division by
    /// zero.
    pub fn value_in(&self, invocations: &[&InvocationRecord], deployed: &str) -> Option<f64> {
        let values: BTreeMap<&str, Option<f64>> = self
            .metrics
            .iter()
            .map(|(id, q)| (id.as_str(), q.value_in(invocations, deployed)))
            .collect();
        eval(&self.ast, &values).filter(|v| v.is_finite())
    }
}

fn collect_ids(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Number(_) => {}
        Expr::Id(id) => out.push(id.clone()),
        Expr::Neg(inner) => collect_ids(inner, out),
        Expr::Binary(_, a, b) => {
            collect_ids(a, out);
            collect_ids(b, out);
        }
    }
}

fn eval(e: &Expr, values: &BTreeMap<&str, Option<f64>>) -> Option<f64> {
    Some(match e {
        Expr::Number(n) => *n,
        Expr::Id(id) => (*values.get(id.as_str())?)?,
        Expr::Neg(inner) => -eval(inner, values)?,
        Expr::Binary(op, a, b) => {
            let (a, b) = (eval(a, values)?, eval(b, values)?);
            match op {
                '+' => a + b,
                '-' => a - b,
                '*' => a * b,
                _ if b == 0.0 => return None,
                _ => a / b,
            }
        }
    })
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    Id(String),
    Op(char),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Number(n) => write!(f, "{n}"),
            Token::Id(id) => write!(f, "{id}"),
            Token::Op(c) => write!(f, "'{c}'"),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let s: String = chars[start..i].iter().collect();
            tokens.push(Token::Number(
                s.parse()
                    .map_err(|_| format!("expression {text:?}: {s} is not a number"))?,
            ));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token::Id(chars[start..i].iter().collect()));
        } else {
            // The parser says where it stops making sense (`%`, `>`, ...).
            tokens.push(Token::Op(c));
            i += 1;
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek_op(&self) -> Option<char> {
        match self.tokens.get(self.at) {
            Some(Token::Op(c)) => Some(*c),
            _ => None,
        }
    }

    fn sum(&mut self) -> Result<Expr, String> {
        let mut left = self.product()?;
        while let Some(op @ ('+' | '-')) = self.peek_op() {
            self.at += 1;
            left = Expr::Binary(op, Box::new(left), Box::new(self.product()?));
        }
        Ok(left)
    }

    fn product(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while let Some(op @ ('*' | '/')) = self.peek_op() {
            self.at += 1;
            left = Expr::Binary(op, Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        match token {
            Some(Token::Op('-')) => Ok(Expr::Neg(Box::new(self.unary()?))),
            Some(Token::Op('(')) => {
                let inner = self.sum()?;
                if self.peek_op() != Some(')') {
                    return Err("expression: a '(' is not closed".to_string());
                }
                self.at += 1;
                Ok(inner)
            }
            Some(Token::Number(n)) => Ok(Expr::Number(n)),
            Some(Token::Id(id)) if self.peek_op() == Some('(') => Err(format!(
                "expression: function {id}(...) is not simulated (only + - * / over metrics)"
            )),
            Some(Token::Id(id)) => Ok(Expr::Id(id)),
            Some(t) => Err(format!("expression: unexpected {t}")),
            None => Err("expression: ends where a value was expected".to_string()),
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::alarm::Alarm;
    use crate::metric::Statistic;
    use crate::metric_query::Metric;
    use crate::record::test_record as record;

    #[test]
    fn an_error_rate_is_an_expression_over_two_metrics() {
        let a = Alarm::error_rate_above("rate", 5.0).through("live");
        let records: Vec<InvocationRecord> = (0..20).map(|i| record("live", "2", i % 10 == 9)).collect();
        let refs: Vec<&InvocationRecord> = records.iter().collect();
        assert_eq!(a.source.value_in(&refs, "fn"), Some(10.0));
        assert_eq!(a.source.value_in(&[], "fn"), None);
        assert_eq!(
            a.source.value_in(&refs, "other"),
            None,
            "another function's invocations"
        );
        assert_eq!(
            a.to_string(),
            "100 * errors / invocations > 5 (errors: Errors Sum (through live); invocations: Invocations Sum (through live)) for 1 of 1 period(s) of 1 min"
        );
    }

    #[test]
    fn expressions_follow_arithmetic_and_say_what_is_wrong() {
        let metrics = || BTreeMap::from([("e".to_string(), MetricQuery::new(Metric::Errors, Statistic::Sum))]);
        let records = [record("live", "2", true), record("live", "2", true)];
        let refs: Vec<&InvocationRecord> = records.iter().collect();
        let value = |text: &str| Expression::parse(text, metrics()).unwrap().value_in(&refs, "fn");
        assert_eq!(value("1 + 2 * e"), Some(5.0));
        assert_eq!(value("(1 + 2) * e"), Some(6.0));
        assert_eq!(value("-e / 4"), Some(-0.5));
        assert_eq!(value("e / (e - 2)"), None, "division by zero has no value");
        let err = |text: &str| Expression::parse(text, metrics()).unwrap_err().to_string();
        assert!(err("e / x").contains("names x, which is no metric"), "{}", err("e / x"));
        assert!(err("IF(e > 0, 1, 0)").contains("function IF(...) is not simulated"));
        assert!(err("(e + 1").contains("not closed"));
        assert!(err("e +").contains("ends where a value was expected"));
        assert!(err("e % 2").contains("unexpected '%'"));
    }
}
