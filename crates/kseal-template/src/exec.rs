//! Executor: walks the parsed tree with the secret values as the data dot and writes the output.
//!
//! Every command, operand and loop iteration is a step, every byte written is output, and what functions
//! read and produce is work, all counted against the [`Budget`] of the object being rendered.

use std::rc::Rc;

use zeroize::Zeroizing;

use crate::Flavour;
use crate::budget::{Budget, Limit};
use crate::error::{Error, Result};
use crate::funcs;
use crate::parse::{Branch, Command, Node, Operand, Parsed, Pipeline, Term};
use crate::value::{Binary, FuncError, Value, ValueError, push_capped};

/// Deepest nesting of `{{template}}` calls (Go allows 100,000; a template calling itself stops here).
const MAX_TEMPLATE_DEPTH: usize = 100;

/// Renders `parsed` with `root` as both `.` and `$`, counting against `budget`.
pub(crate) fn execute(
    template: &str,
    parsed: &Parsed,
    root: &Value,
    flavour: Flavour,
    budget: &mut Budget,
) -> Result<Zeroizing<Vec<u8>>> {
    let mut exec = Exec {
        template,
        flavour,
        parsed,
        root: root.clone(),
        template_depth: 0,
        // `$` is variable 0 of every template.
        vars: vec![(0, root.clone())],
        budget,
        out: Zeroizing::new(Vec::new()),
    };
    exec.walk(root, &parsed.nodes)?;
    Ok(exec.out)
}

/// How a list of nodes finished (`break`/`continue` unwind to the enclosing `range`).
#[derive(PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

struct Exec<'t, 'b> {
    template: &'t str,
    flavour: Flavour,
    parsed: &'t Parsed,
    /// The data dot: `index` gives the empty string for a key it lacks (Go's zero value of its
    /// `map[string]string`), other maps give nil.
    root: Value,
    template_depth: usize,
    /// Variables in scope (by id), innermost last.
    vars: Vec<(usize, Value)>,
    budget: &'b mut Budget,
    out: Zeroizing<Vec<u8>>,
}

impl Exec<'_, '_> {
    fn exec_error(&self, line: usize, message: impl Into<String>) -> Error {
        Error::Exec {
            template: self.template.to_owned(),
            line,
            message: message.into(),
        }
    }

    fn limit_error(&self, line: usize, limit: Limit) -> Error {
        Error::Limit {
            template: self.template.to_owned(),
            line,
            message: limit.message(),
        }
    }

    fn func_error(&self, line: usize, function: &str, e: FuncError) -> Error {
        let template = self.template.to_owned();
        match e {
            FuncError::NonUtf8(origin) => Error::NonUtf8 {
                template,
                line,
                origin,
            },
            FuncError::Limit(limit) => self.limit_error(line, limit),
            FuncError::TooLarge => self.limit_error(line, self.budget.cap_limit()),
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
        self.budget.step().map_err(|l| self.limit_error(line, l))
    }

    /// Writes `value` to the output, within what the object may still output.
    fn write(&mut self, line: usize, value: &Value) -> Result<()> {
        let start = self.out.len();
        let cap = start.saturating_add(self.budget.output_room());
        let written = value.write_to(&mut self.out, cap);
        self.charge_output(line, start, written)
    }

    fn write_text(&mut self, line: usize, text: &str) -> Result<()> {
        let start = self.out.len();
        let cap = start.saturating_add(self.budget.output_room());
        let written = push_capped(&mut self.out, text.as_bytes(), cap);
        self.charge_output(line, start, written)
    }

    fn charge_output(
        &mut self,
        line: usize,
        start: usize,
        written: std::result::Result<(), ValueError>,
    ) -> Result<()> {
        let grown = self.out.len() - start;
        let charged = match written {
            Ok(()) => self.budget.output(grown),
            Err(ValueError::TooLarge) => self.budget.output(usize::MAX),
            Err(ValueError::Limit(limit)) => Err(limit),
            Err(ValueError::NonUtf8(origin)) => {
                return Err(Error::NonUtf8 {
                    template: self.template.to_owned(),
                    line,
                    origin,
                });
            }
            Err(ValueError::Invalid(message)) => return Err(self.exec_error(line, message)),
        };
        charged.map_err(|l| self.limit_error(line, l))
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
            Node::Text(text, line) => self.write_text(*line, text)?,
            Node::Action(pipe) => {
                let value = self.pipeline(dot, pipe)?;
                if pipe.vars.is_empty() {
                    if matches!(value, Value::Nil) {
                        // Go prints a nil or missing action value so (inside a list it is `<nil>`).
                        self.write_text(pipe.line, "<no value>")?;
                    } else {
                        self.write(pipe.line, &value)?;
                    }
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
            Node::Template { name, pipe, line } => {
                let Some(body) = self.parsed.defines.get(name).cloned() else {
                    return Err(self.exec_error(*line, format!("no such template {name:?}")));
                };
                let value = match pipe {
                    Some(pipe) => {
                        let mark = self.vars.len();
                        let v = self.pipeline(dot, pipe)?;
                        self.vars.truncate(mark);
                        v
                    }
                    None => Value::Nil,
                };
                if self.template_depth >= MAX_TEMPLATE_DEPTH {
                    return Err(self.exec_error(
                        *line,
                        format!("exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})"),
                    ));
                }
                self.template_depth += 1;
                // A template sees only its own variables, `$` being its dot.
                let outer = std::mem::replace(&mut self.vars, vec![(0, value.clone())]);
                let flow = self.walk(&value, &body);
                self.vars = outer;
                self.template_depth -= 1;
                flow?;
            }
        }
        Ok(Flow::Normal)
    }

    /// `range` over a list, a map (in key order) or an int; items are visited in place, never collected.
    fn range(&mut self, dot: &Value, branch: &Branch) -> Result<Flow> {
        let pipe = &branch.pipe;
        let value = self.pipeline(dot, pipe)?;
        let empty = match &value {
            Value::List(items) => items.is_empty(),
            Value::Map(map) => map.is_empty(),
            Value::Int(n) | Value::Int64(n) => {
                if pipe.vars.len() > 1 {
                    return Err(self.exec_error(
                        pipe.line,
                        "can't use two variables when ranging over an int",
                    ));
                }
                *n <= 0
            }
            Value::Nil => true,
            other => {
                return Err(self.exec_error(
                    pipe.line,
                    format!("range can't iterate over {}", other.kind()),
                ));
            }
        };
        let mark = self.vars.len();
        if empty {
            let flow = self.walk(dot, &branch.otherwise)?;
            self.vars.truncate(mark);
            return Ok(flow);
        }
        match &value {
            Value::List(items) => {
                for (i, elem) in items.iter().enumerate() {
                    if self.iterate(branch, mark, Value::Int(i as i64), elem)? {
                        break;
                    }
                }
            }
            Value::Map(map) => {
                for (key, elem) in map.iter() {
                    // The key is copied into a value: that is work.
                    self.budget
                        .work(key.len())
                        .map_err(|l| self.limit_error(pipe.line, l))?;
                    if self.iterate(branch, mark, Value::str(key.as_str()), elem)? {
                        break;
                    }
                }
            }
            Value::Int(n) | Value::Int64(n) => {
                for i in 0..*n {
                    if self.iterate(branch, mark, Value::Int(i), &Value::Int(i))? {
                        break;
                    }
                }
            }
            _ => {}
        }
        self.vars.truncate(mark);
        Ok(Flow::Normal)
    }

    /// One iteration of `range`; returns whether the body broke out of the loop.
    fn iterate(&mut self, branch: &Branch, mark: usize, key: Value, elem: &Value) -> Result<bool> {
        let pipe = &branch.pipe;
        self.step(pipe.line)?;
        self.vars.truncate(mark);
        match pipe.vars.as_slice() {
            [one] => self.vars.push((one.id, elem.clone())),
            [k, v] => {
                self.vars.push((k.id, key));
                self.vars.push((v.id, elem.clone()));
            }
            _ => {}
        }
        Ok(self.walk(elem, &branch.body)? == Flow::Break)
    }

    /// Binds `$x := value` or sets `$x = value`.
    fn declare(&mut self, pipe: &Pipeline, value: Value) {
        let Some(var) = pipe.vars.first() else {
            return;
        };
        if pipe.is_assign
            && let Some(slot) = self.vars.iter_mut().rev().find(|(id, _)| *id == var.id)
        {
            slot.1 = value;
            return;
        }
        self.vars.push((var.id, value));
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
        if let Term::Func(name) = &first.term
            && first.fields.is_empty()
        {
            return self.call(dot, cmd.line, name, &cmd.args[1..], piped);
        }
        if cmd.args.len() > 1 || piped.is_some() {
            // A method of a time or a version called with arguments: `(semver .a).LessThan $b`.
            if let Some((method, init)) = first.fields.split_last() {
                let recv = Operand {
                    term: first.term.clone(),
                    fields: init.to_vec(),
                };
                let recv = self.operand(dot, cmd.line, &recv)?;
                if crate::objects::has_methods(&recv) {
                    let mut values = Vec::with_capacity(cmd.args.len());
                    for arg in &cmd.args[1..] {
                        values.push(self.operand(dot, cmd.line, arg)?);
                    }
                    values.extend(piped);
                    return self.method(cmd.line, &recv, method, &values);
                }
            }
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
        // sealed-secrets offers sprig's functions only: ESO's own are not defined there.
        if self.flavour == Flavour::SealedSecrets
            && (funcs::ESO_ONLY.contains(&name) || funcs::eso_module(name))
        {
            return Err(self.exec_error(
                line,
                format!("function {name:?} not defined (it is External Secrets Operator's, not sealed-secrets')"),
            ));
        }
        let mut values = Vec::with_capacity(args.len() + 1);
        // Which arguments are literals of the template: only their text may be quoted in messages.
        let mut literal = Vec::with_capacity(args.len() + 1);
        for arg in args {
            values.push(self.operand(dot, line, arg)?);
            literal.push(is_literal(arg));
        }
        if let Some(piped) = piped {
            values.push(piped);
            literal.push(false);
        }
        if funcs::reads_text(name) {
            let read = values
                .iter()
                .fold(0usize, |n, v| n.saturating_add(v.text_len()));
            self.budget
                .work(read)
                .map_err(|l| self.limit_error(line, l))?;
        }
        let is_root = matches!(
            (values.first(), &self.root),
            (Some(Value::Map(a)), Value::Map(b)) if std::rc::Rc::ptr_eq(a, b)
        );
        let on_data = name == "index"
            && values.len() == 2
            && matches!((&values[0], &self.root), (Value::Map(a), Value::Map(b)) if std::rc::Rc::ptr_eq(a, b));
        // ESO's vendored sprig has a three-argument htpasswd.
        let callee = if name == "htpasswd" && self.flavour != Flavour::SealedSecrets {
            "eso:htpasswd"
        } else {
            name
        };
        let mut result = funcs::call(callee, values, &literal, self.budget)
            .map_err(|e| self.func_error(line, name, e))?;
        if on_data && matches!(result, Value::Nil) {
            result = Value::str("");
        }
        if name == "typeOf" && is_root {
            // The data dot is Go's map[string]string in both engines.
            result = Value::str("map[string]string");
        }
        // Go's maps are references: `set`, `unset`, `merge` and `mergeOverwrite` change the map they
        // are given. Maps here are values, so the changed map is written back to the variable (or the
        // variable's field) it was read from, which covers `$_ := set $d "k" v` and `set $d.sub ...`.
        if matches!(
            name,
            "set" | "unset" | "merge" | "mustMerge" | "mergeOverwrite" | "mustMergeOverwrite"
        ) && matches!(result, Value::Map(_))
            && let Some(Operand {
                term: Term::Var(var),
                fields,
            }) = args.first()
            && let Some(slot) = self.vars.iter_mut().rev().find(|(id, _)| *id == var.id)
        {
            slot.1 = replace_at(&slot.1, fields, result.clone());
        }
        if matches!(name, "list" | "dict") {
            result
                .check_size(self.budget)
                .map_err(|l| self.limit_error(line, l))?;
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
        self.step(line)?;
        let mut value = match &op.term {
            Term::Func(name) if op.fields.is_empty() => {
                return self.call(dot, line, name, &[], None);
            }
            Term::Func(name) => self.call(dot, line, name, &[], None)?,
            Term::Dot => dot.clone(),
            Term::Nil => Value::Nil,
            Term::Var(var) => match self.vars.iter().rev().find(|(id, _)| *id == var.id) {
                Some((_, v)) => v.clone(),
                None => {
                    return Err(self.exec_error(line, format!("undefined variable {}", var.name)));
                }
            },
            Term::Bool(b) => Value::Bool(*b),
            Term::Int(i) => Value::Int(*i),
            Term::Float(f) => Value::Float(*f),
            Term::Str(s) => Value::Str(s.clone()),
            Term::Bytes(b) => Value::Bytes(Rc::new(Binary {
                origin: "a string literal".into(),
                bytes: b.clone(),
            })),
            Term::Pipe(pipe) => {
                let mark = self.vars.len();
                let v = self.pipeline(dot, pipe)?;
                self.vars.truncate(mark);
                v
            }
        };
        for field in &op.fields {
            value = match &value {
                Value::Map(map) => match map.get(field) {
                    // A field name is template text: a binary value reached through it is named by it.
                    Some(found) => found.clone().labelled(|| format!("key {field:?}")),
                    None if self.flavour.missing_key_is_nil() => Value::Nil,
                    None => {
                        return Err(Error::MissingKey {
                            template: self.template.to_owned(),
                            line,
                            key: Some(field.clone()),
                        });
                    }
                },
                Value::Cert(c) => c.field(field).ok_or_else(|| {
                    self.exec_error(
                        line,
                        format!("can't evaluate field {field} in type sprig.certificate"),
                    )
                })?,
                // sealed-secrets: a field of a missing value is missing too.
                Value::Nil if self.flavour.missing_key_is_nil() => Value::Nil,
                recv if crate::objects::has_methods(recv) => self.method(line, recv, field, &[])?,
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

impl Exec<'_, '_> {
    /// Calls a method of a time or a version (a field reference calls one without arguments).
    fn method(&mut self, line: usize, recv: &Value, name: &str, args: &[Value]) -> Result<Value> {
        let args: Vec<Value> = args.iter().cloned().map(Value::into_go_int).collect();
        match crate::objects::method(recv, name, &args, self.budget) {
            Some(r) => r.map_err(|e| self.func_error(line, name, e)),
            None => Err(self.exec_error(
                line,
                format!("can't evaluate field {name} in type {}", recv.kind()),
            )),
        }
    }
}

/// `value` with the map at the field path `fields` replaced by `new` (unchanged if the path does not
/// lead through maps).
fn replace_at(value: &Value, fields: &[String], new: Value) -> Value {
    let Some((first, rest)) = fields.split_first() else {
        return new;
    };
    match value {
        Value::Map(map) => match map.get(first) {
            Some(inner) => {
                let mut copy = (**map).clone();
                copy.insert(first.clone(), replace_at(inner, rest, new));
                Value::Map(std::rc::Rc::new(copy))
            }
            None => value.clone(),
        },
        _ => value.clone(),
    }
}

/// Whether an operand is a literal of the template (a string, number or bool constant).
fn is_literal(op: &Operand) -> bool {
    op.fields.is_empty()
        && matches!(
            op.term,
            Term::Str(_) | Term::Bytes(_) | Term::Int(_) | Term::Float(_) | Term::Bool(_)
        )
}
