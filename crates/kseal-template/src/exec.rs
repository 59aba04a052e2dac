//! Executor: walks the parsed tree with the secret values as the data dot and writes the output.

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::funcs::{self, FuncError};
use crate::parse::{Command, Node, Operand, Pipeline, Term};
use crate::value::{MAX_VALUE_NODES, Value, ValueError};
use crate::{MAX_OUTPUT_BYTES, MAX_STEPS};

/// Renders `nodes` with `root` as both `.` and `$`.
pub(crate) fn execute(template: &str, nodes: &[Node], root: &Value) -> Result<Zeroizing<Vec<u8>>> {
    let mut exec = Exec {
        template,
        vars: vec![("$".to_owned(), root.clone())],
        steps: 0,
        out: Zeroizing::new(Vec::new()),
    };
    exec.walk(root, nodes)?;
    Ok(exec.out)
}

/// How a list of nodes finished (`break`/`continue` unwind to the enclosing `range`).
#[derive(PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

struct Exec<'a> {
    template: &'a str,
    /// Variables in scope, innermost last.
    vars: Vec<(String, Value)>,
    steps: usize,
    out: Zeroizing<Vec<u8>>,
}

impl Exec<'_> {
    fn exec_error(&self, line: usize, message: impl Into<String>) -> Error {
        Error::Exec {
            template: self.template.to_owned(),
            line,
            message: message.into(),
        }
    }

    fn value_error(&self, line: usize, e: ValueError) -> Error {
        match e {
            ValueError::NonUtf8(origin) => Error::NonUtf8 {
                template: self.template.to_owned(),
                line,
                origin,
            },
            ValueError::Invalid(message) => self.exec_error(line, message),
        }
    }

    fn func_error(&self, line: usize, function: &str, e: FuncError) -> Error {
        let template = self.template.to_owned();
        match e {
            FuncError::MissingKey(key) => Error::MissingKey {
                template,
                line,
                key,
            },
            FuncError::NonUtf8(origin) => Error::NonUtf8 {
                template,
                line,
                origin,
            },
            FuncError::Limit(message) => Error::Limit {
                template,
                line,
                message,
            },
            FuncError::Invalid(message) => Error::Function {
                template,
                line,
                function: function.to_owned(),
                message,
            },
        }
    }

    /// Counts one unit of work, so loops cannot run unbounded.
    fn step(&mut self, line: usize) -> Result<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(Error::Limit {
                template: self.template.to_owned(),
                line,
                message: format!("evaluation exceeded {MAX_STEPS} steps"),
            });
        }
        Ok(())
    }

    fn write(&mut self, line: usize, value: &Value) -> Result<()> {
        value
            .write_to(&mut self.out)
            .map_err(|e| self.value_error(line, e))?;
        self.check_output(line)
    }

    fn check_output(&self, line: usize) -> Result<()> {
        if self.out.len() > MAX_OUTPUT_BYTES {
            return Err(Error::Limit {
                template: self.template.to_owned(),
                line,
                message: format!("output exceeds {MAX_OUTPUT_BYTES} bytes"),
            });
        }
        Ok(())
    }

    fn walk(&mut self, dot: &Value, nodes: &[Node]) -> Result<Flow> {
        for node in nodes {
            let flow = self.walk_node(dot, node)?;
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn walk_node(&mut self, dot: &Value, node: &Node) -> Result<Flow> {
        match node {
            Node::Text(text, line) => {
                self.out.extend_from_slice(text.as_bytes());
                self.check_output(*line)?;
            }
            Node::Action(pipe) => {
                let value = self.pipeline(dot, pipe)?;
                if pipe.vars.is_empty() {
                    self.write(pipe.line, &value)?;
                } else {
                    self.declare(pipe, value);
                }
            }
            Node::If(branch) | Node::With(branch) => {
                let mark = self.vars.len();
                let value = self.pipeline(dot, &branch.pipe)?;
                let truthy = value.is_truthy();
                self.declare(&branch.pipe, value.clone());
                let flow = match (truthy, matches!(node, Node::With(_))) {
                    (true, true) => self.walk(&value, &branch.body)?,
                    (true, false) => self.walk(dot, &branch.body)?,
                    (false, _) => self.walk(dot, &branch.otherwise)?,
                };
                self.vars.truncate(mark);
                return Ok(flow);
            }
            Node::Range(branch) => return self.range(dot, branch),
            Node::Break(_) => return Ok(Flow::Break),
            Node::Continue(_) => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn range(&mut self, dot: &Value, branch: &crate::parse::Branch) -> Result<Flow> {
        let pipe = &branch.pipe;
        let value = self.pipeline(dot, pipe)?;
        // Ints are ranged lazily: `range 100000000` must hit the step limit, not allocate.
        let items: Box<dyn Iterator<Item = (Value, Value)>> = match &value {
            Value::List(items) => Box::new(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (Value::Int(i as i64), v.clone()))
                    .collect::<Vec<_>>()
                    .into_iter(),
            ),
            Value::Map(map) => Box::new(
                map.iter()
                    .map(|(k, v)| (Value::str(k.clone()), v.clone()))
                    .collect::<Vec<_>>()
                    .into_iter(),
            ),
            Value::Int(n) => {
                if pipe.vars.len() > 1 {
                    return Err(self.exec_error(
                        pipe.line,
                        "can't use two variables when ranging over an int",
                    ));
                }
                Box::new((0..*n).map(|i| (Value::Int(i), Value::Int(i))))
            }
            Value::Nil => Box::new(std::iter::empty()),
            other => {
                return Err(self.exec_error(
                    pipe.line,
                    format!("range can't iterate over {}", other.kind()),
                ));
            }
        };
        let mark = self.vars.len();
        let mut items = items.peekable();
        if items.peek().is_none() {
            let flow = self.walk(dot, &branch.otherwise)?;
            self.vars.truncate(mark);
            return Ok(flow);
        }
        for (key, elem) in items {
            self.step(pipe.line)?;
            self.vars.truncate(mark);
            match pipe.vars.as_slice() {
                [one] => self.vars.push((one.clone(), elem.clone())),
                [k, v] => {
                    self.vars.push((k.clone(), key));
                    self.vars.push((v.clone(), elem.clone()));
                }
                _ => {}
            }
            if self.walk(&elem, &branch.body)? == Flow::Break {
                break;
            }
        }
        self.vars.truncate(mark);
        Ok(Flow::Normal)
    }

    /// Binds `$x := value` or sets `$x = value`.
    fn declare(&mut self, pipe: &Pipeline, value: Value) {
        let Some(name) = pipe.vars.first() else {
            return;
        };
        if pipe.is_assign
            && let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name)
        {
            slot.1 = value;
            return;
        }
        self.vars.push((name.clone(), value));
    }

    fn pipeline(&mut self, dot: &Value, pipe: &Pipeline) -> Result<Value> {
        let mut last = None;
        for cmd in &pipe.cmds {
            last = Some(self.command(dot, cmd, last)?);
        }
        Ok(last.unwrap_or(Value::Nil))
    }

    fn command(&mut self, dot: &Value, cmd: &Command, piped: Option<Value>) -> Result<Value> {
        self.step(cmd.line)?;
        let first = &cmd.args[0];
        if let Term::Func(name) = &first.term {
            return self.call(dot, cmd.line, name, &cmd.args[1..], piped);
        }
        if cmd.args.len() > 1 || piped.is_some() {
            return Err(self.exec_error(cmd.line, "can't give argument to non-function"));
        }
        if first.term == Term::Nil && first.fields.is_empty() {
            return Err(self.exec_error(cmd.line, "nil is not a command"));
        }
        self.operand(dot, cmd.line, first)
    }

    fn call(
        &mut self,
        dot: &Value,
        line: usize,
        name: &str,
        args: &[Operand],
        piped: Option<Value>,
    ) -> Result<Value> {
        if name == "and" || name == "or" {
            return self.and_or(dot, line, name == "and", args, piped);
        }
        let mut values = Vec::with_capacity(args.len() + 1);
        for arg in args {
            values.push(self.operand(dot, line, arg)?);
        }
        values.extend(piped);
        let result = funcs::call(name, values).map_err(|e| self.func_error(line, name, e))?;
        let too_big = match &result {
            Value::Str(s) => s.len() > MAX_OUTPUT_BYTES,
            Value::List(_) | Value::Map(_) => !result.fits(MAX_VALUE_NODES),
            _ => false,
        };
        if too_big {
            return Err(self.func_error(
                line,
                name,
                FuncError::Limit("result is too large".into()),
            ));
        }
        Ok(result)
    }

    /// Go's short-circuit `and`/`or`: returns the first falsy (and) or truthy (or) argument, else the last.
    fn and_or(
        &mut self,
        dot: &Value,
        line: usize,
        is_and: bool,
        args: &[Operand],
        piped: Option<Value>,
    ) -> Result<Value> {
        if args.is_empty() && piped.is_none() {
            let name = if is_and { "and" } else { "or" };
            return Err(self.func_error(
                line,
                name,
                FuncError::Invalid("wrong number of arguments: want at least 1, got 0".into()),
            ));
        }
        let mut last = Value::Nil;
        for arg in args {
            last = self.operand(dot, line, arg)?;
            if last.is_truthy() != is_and {
                return Ok(last);
            }
        }
        Ok(piped.unwrap_or(last))
    }

    /// Evaluates an operand; a bare function name calls the function without arguments.
    fn operand(&mut self, dot: &Value, line: usize, op: &Operand) -> Result<Value> {
        let mut value = match &op.term {
            Term::Func(name) => return self.call(dot, line, name, &[], None),
            Term::Dot => dot.clone(),
            Term::Nil => Value::Nil,
            Term::Var(name) => match self.vars.iter().rev().find(|(n, _)| n == name) {
                Some((_, v)) => v.clone(),
                None => return Err(self.exec_error(line, format!("undefined variable {name}"))),
            },
            Term::Bool(b) => Value::Bool(*b),
            Term::Int(i) => Value::Int(*i),
            Term::Float(f) => Value::Float(*f),
            Term::Str(s) => Value::str(s.clone()),
            Term::Pipe(pipe) => {
                let mark = self.vars.len();
                let v = self.pipeline(dot, pipe)?;
                self.vars.truncate(mark);
                v
            }
        };
        for field in &op.fields {
            value = match &value {
                Value::Map(map) => map.get(field).cloned().ok_or_else(|| Error::MissingKey {
                    template: self.template.to_owned(),
                    line,
                    key: field.clone(),
                })?,
                other => {
                    return Err(self.exec_error(
                        line,
                        format!("can't evaluate field {field} in type {}", other.kind()),
                    ));
                }
            };
        }
        Ok(value)
    }
}
