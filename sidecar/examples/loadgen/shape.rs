//! A load shape: how many sessions, and how many workers send requests concurrently in each.

use std::str::FromStr;

/// Sessions x concurrent workers per session.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub sessions: usize,
    pub concurrency: usize,
}

impl FromStr for Shape {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (s, c) = text
            .split_once('x')
            .ok_or_else(|| format!("shape {text:?} is not SESSIONSxCONCURRENCY"))?;
        let parse = |n: &str| n.parse::<usize>().ok().filter(|&n| n > 0);
        match (parse(s), parse(c)) {
            (Some(sessions), Some(concurrency)) => Ok(Shape {
                sessions,
                concurrency,
            }),
            _ => Err(format!("shape {text:?} needs two positive numbers")),
        }
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.sessions, self.concurrency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_parse_and_print() {
        let shape: Shape = "16x4".parse().unwrap();
        assert_eq!((shape.sessions, shape.concurrency), (16, 4));
        assert_eq!(shape.to_string(), "16x4");
        assert!("0x4".parse::<Shape>().is_err());
        assert!("16".parse::<Shape>().is_err());
    }
}
