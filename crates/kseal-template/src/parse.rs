//! Parser: turns tokens into a tree of nodes, following Go `text/template`'s grammar for the supported subset.

use std::collections::HashMap;
use std::rc::Rc;

use zeroize::Zeroizing;

use crate::funcs;
use crate::lex::{Keyword, Tok, Token, lex};
use crate::value::Text;

/// Deepest nesting of control structures and parentheses accepted, so hostile input cannot overflow the stack.
const MAX_NESTING: usize = 100;

/// Most variables in scope at one point: looking a variable up walks the scope, so its length is bounded.
const MAX_VARIABLES: usize = 1000;

/// Context name of a pipeline in parentheses (no declarations; ends at `)`).
const PAREN: &str = "parenthesized pipeline";

/// A parse failure: line and message.
pub(crate) type ParseError = (usize, String);

/// One node of a template body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    /// Literal text and its line.
    Text(String, usize),
    /// `{{ pipeline }}`: prints the pipeline's value unless it declares or assigns variables.
    Action(Pipeline),
    If(Branch),
    With(Branch),
    Range(Branch),
    Break(usize),
    Continue(usize),
    /// `{{template "name" pipeline}}` (also what `{{block}}` leaves in place): runs the named template
    /// with the pipeline's value (nil without one) as its dot and `$`.
    Template {
        name: String,
        pipe: Option<Pipeline>,
        line: usize,
    },
}

/// A parsed template: its body and the templates it defines (`{{define}}`, `{{block}}`).
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) nodes: Vec<Node>,
    pub(crate) defines: HashMap<String, Rc<Vec<Node>>>,
}

/// The common shape of `if`, `with` and `range`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Branch {
    pub(crate) pipe: Pipeline,
    pub(crate) body: Vec<Node>,
    pub(crate) otherwise: Vec<Node>,
}

/// `$x := cmd | cmd ...`
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pipeline {
    pub(crate) line: usize,
    /// Declared or assigned variables (with the `$`).
    pub(crate) vars: Vec<Var>,
    /// `=` rather than `:=`.
    pub(crate) is_assign: bool,
    pub(crate) cmds: Vec<Command>,
}

/// Space-separated operands; the first may be a function name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Command {
    pub(crate) line: usize,
    pub(crate) args: Vec<Operand>,
}

/// A term followed by a (possibly empty) chain of field names: `.a.b`, `$x.a`, `(pipe).a`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Operand {
    pub(crate) term: Term,
    pub(crate) fields: Vec<String>,
}

/// A variable: its name (with the `$`) and a number that is the same for every use of that name in the
/// template, so looking it up compares numbers, not names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Var {
    pub(crate) id: usize,
    pub(crate) name: Rc<str>,
}

/// The start of an operand.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Term {
    Func(String),
    Dot,
    Nil,
    Var(Var),
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A string literal, shared so that evaluating it copies nothing.
    Str(Text),
    /// A string literal that is not UTF-8.
    Bytes(Rc<Zeroizing<Vec<u8>>>),
    Pipe(Box<Pipeline>),
}

/// Parses template source into its top-level nodes.
#[cfg(test)]
pub(crate) fn parse(src: &str) -> Result<Vec<Node>, ParseError> {
    parse_all(src).map(|p| p.nodes)
}

/// Parses template source into its body and the templates it defines.
pub(crate) fn parse_all(src: &str) -> Result<Parsed, ParseError> {
    let tokens = lex(src)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        vars: vec![0],
        names: HashMap::from([("$".to_owned(), 0)]),
        depth: 0,
        range_depth: 0,
        defines: HashMap::new(),
    };
    let (nodes, stop) = parser.list()?;
    match stop {
        Stop::Eof => Ok(Parsed {
            nodes,
            defines: parser.defines,
        }),
        Stop::End(line) => Err((line, "unexpected {{end}}".into())),
        Stop::Else(line) => Err((line, "unexpected {{else}}".into())),
    }
}

/// What ended a list of nodes.
enum Stop {
    Eof,
    End(usize),
    Else(usize),
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Variables in scope (their ids), innermost last.
    vars: Vec<usize>,
    /// Id of each variable name seen.
    names: HashMap<String, usize>,
    depth: usize,
    range_depth: usize,
    defines: HashMap<String, Rc<Vec<Node>>>,
}

impl Parser {
    /// The variable named `name` (its id is given on first sight).
    fn var(&mut self, name: &str) -> Var {
        let id = match self.names.get(name) {
            Some(&id) => id,
            None => {
                let id = self.names.len();
                self.names.insert(name.to_owned(), id);
                id
            }
        };
        Var {
            id,
            name: Rc::from(name),
        }
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Result<Token, ParseError> {
        let line = self.tokens.last().map_or(1, |t| t.line);
        let tok = self
            .tokens
            .get(self.pos)
            .cloned()
            .ok_or((line, "unexpected end of template".to_owned()))?;
        self.pos += 1;
        Ok(tok)
    }

    fn expect_right_delim(&mut self, context: &str) -> Result<(), ParseError> {
        let t = self.next()?;
        if t.tok == Tok::RightDelim {
            Ok(())
        } else {
            Err((
                t.line,
                format!("unexpected {} in {context}", describe(&t.tok)),
            ))
        }
    }

    fn enter(&mut self, line: usize) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err((line, format!("nesting deeper than {MAX_NESTING}")));
        }
        Ok(())
    }

    /// Parses nodes until `{{end}}`, `{{else}}` or the end of input.
    fn list(&mut self) -> Result<(Vec<Node>, Stop), ParseError> {
        let mut nodes = Vec::new();
        while let Some(t) = self.tokens.get(self.pos).cloned() {
            self.pos += 1;
            match t.tok {
                Tok::Text(text) => nodes.push(Node::Text(text, t.line)),
                Tok::LeftDelim => {
                    let Some(next) = self.peek().cloned() else {
                        return Err((t.line, "unclosed action".into()));
                    };
                    match next.tok {
                        Tok::Keyword(kw) => {
                            self.pos += 1;
                            match kw {
                                Keyword::End => {
                                    self.expect_right_delim("end")?;
                                    return Ok((nodes, Stop::End(next.line)));
                                }
                                // The caller looks at what follows `else` (`if`, `with` or `}}`).
                                Keyword::Else => return Ok((nodes, Stop::Else(next.line))),
                                _ => nodes.push(self.keyword(kw, next.line)?),
                            }
                        }
                        _ => nodes.push(Node::Action(self.pipeline("command")?)),
                    }
                }
                _ => return Err((t.line, format!("unexpected {}", describe(&t.tok)))),
            }
        }
        Ok((nodes, Stop::Eof))
    }

    fn keyword(&mut self, kw: Keyword, line: usize) -> Result<Node, ParseError> {
        match kw {
            Keyword::If => Ok(Node::If(self.control(kw, line)?)),
            Keyword::With => Ok(Node::With(self.control(kw, line)?)),
            Keyword::Range => Ok(Node::Range(self.control(kw, line)?)),
            Keyword::Break | Keyword::Continue => {
                if self.range_depth == 0 {
                    return Err((line, format!("{{{{{}}}}} outside {{{{range}}}}", name(kw))));
                }
                self.expect_right_delim(name(kw))?;
                Ok(if kw == Keyword::Break {
                    Node::Break(line)
                } else {
                    Node::Continue(line)
                })
            }
            Keyword::Define => {
                if self.depth > 0 {
                    return Err((line, "{{define}} is allowed only at the top level".into()));
                }
                let name = self.template_name("define")?;
                self.expect_right_delim("define")?;
                let body = self.definition(line, "define")?;
                self.define(line, name, body)?;
                // Nothing is left in place of a definition.
                Ok(Node::Text(String::new(), line))
            }
            Keyword::Template | Keyword::Block => {
                let context = name(kw);
                let template = self.template_name(context)?;
                let pipe = if self.peek().is_some_and(|t| t.tok == Tok::RightDelim) {
                    self.pos += 1;
                    None
                } else {
                    Some(self.pipeline(context)?)
                };
                if kw == Keyword::Block {
                    if pipe.is_none() {
                        return Err((line, "missing pipeline in {{block}}".into()));
                    }
                    let body = self.definition(line, "block")?;
                    self.define(line, template.clone(), body)?;
                }
                Ok(Node::Template {
                    name: template,
                    pipe,
                    line,
                })
            }
            Keyword::End | Keyword::Else => Err((line, format!("unexpected {}", name(kw)))),
        }
    }

    /// The quoted name after `define`, `template` or `block`.
    fn template_name(&mut self, context: &str) -> Result<String, ParseError> {
        let t = self.next()?;
        match t.tok {
            Tok::Str(s) => Ok(s),
            other => Err((
                t.line,
                format!(
                    "unexpected {} in {context}: want a quoted name",
                    describe(&other)
                ),
            )),
        }
    }

    /// The body of a `{{define}}` or `{{block}}` through its `{{end}}`; only `$` is in scope in it.
    fn definition(&mut self, line: usize, context: &str) -> Result<Vec<Node>, ParseError> {
        self.enter(line)?;
        let outer = std::mem::replace(&mut self.vars, vec![0]);
        let outer_range = std::mem::replace(&mut self.range_depth, 0);
        let body = self.list();
        self.vars = outer;
        self.range_depth = outer_range;
        self.depth -= 1;
        match body? {
            (body, Stop::End(_)) => Ok(body),
            (_, Stop::Else(l)) => Err((l, format!("unexpected {{{{else}}}} in {context}"))),
            (_, Stop::Eof) => Err((line, format!("missing {{{{end}}}} for {{{{{context}}}}}"))),
        }
    }

    /// Records a definition; as in Go, a name may be defined again only where one of the two bodies
    /// is empty (whitespace only), and a non-empty body wins.
    fn define(&mut self, line: usize, name: String, body: Vec<Node>) -> Result<(), ParseError> {
        let empty = |nodes: &[Node]| {
            nodes
                .iter()
                .all(|n| matches!(n, Node::Text(t, _) if t.trim().is_empty()))
        };
        match self.defines.get(&name) {
            Some(old) if !empty(old) && !empty(&body) => Err((
                line,
                format!("template: multiple definition of template {name:?}"),
            )),
            Some(old) if empty(&body) && !empty(old) => Ok(()),
            _ => {
                self.defines.insert(name, Rc::new(body));
                Ok(())
            }
        }
    }

    /// Parses `if`/`with`/`range` after its keyword, through the matching `{{end}}`.
    fn control(&mut self, kw: Keyword, line: usize) -> Result<Branch, ParseError> {
        self.enter(line)?;
        let scope = self.vars.len();
        let pipe = self.pipeline(name(kw))?;
        if kw == Keyword::Range {
            self.range_depth += 1;
        }
        let body = self.list();
        if kw == Keyword::Range {
            self.range_depth -= 1;
        }
        let (body, stop) = body?;
        let otherwise = match stop {
            Stop::End(_) => Vec::new(),
            Stop::Eof => {
                return Err((
                    line,
                    format!("missing {{{{end}}}} for {{{{{}}}}}", name(kw)),
                ));
            }
            Stop::Else(else_line) => {
                let chained = self.peek().and_then(|t| match t.tok {
                    Tok::Keyword(k @ (Keyword::If | Keyword::With)) => Some(k),
                    _ => None,
                });
                match chained {
                    // `{{else if ...}}` / `{{else with ...}}` nest a control sharing this one's `{{end}}`.
                    Some(k) if k == kw => {
                        let t = self.next()?;
                        let nested = self.control(k, t.line)?;
                        vec![if k == Keyword::If {
                            Node::If(nested)
                        } else {
                            Node::With(nested)
                        }]
                    }
                    _ => {
                        self.expect_right_delim("else")?;
                        let (otherwise, stop) = self.list()?;
                        match stop {
                            Stop::End(_) => otherwise,
                            Stop::Else(l) => {
                                return Err((l, "expected {{end}}, found {{else}}".into()));
                            }
                            Stop::Eof => {
                                return Err((
                                    else_line,
                                    format!("missing {{{{end}}}} for {{{{{}}}}}", name(kw)),
                                ));
                            }
                        }
                    }
                }
            }
        };
        self.vars.truncate(scope);
        self.depth -= 1;
        Ok(Branch {
            pipe,
            body,
            otherwise,
        })
    }

    /// Parses a pipeline up to and including `}}` (or `)` when inside parentheses, which the caller consumes).
    fn pipeline(&mut self, context: &str) -> Result<Pipeline, ParseError> {
        let line = self.peek().map_or(1, |t| t.line);
        let (vars, is_assign) = self.declaration(context != PAREN, context == "range")?;
        let mut cmds = Vec::new();
        loop {
            let cmd = self.command()?;
            cmds.push(cmd);
            let t = self.next()?;
            match t.tok {
                // Go accepts a pipe symbol right before the closing delimiter (`{{ .a | }}`).
                Tok::Pipe
                    if context != PAREN
                        && self.peek().is_some_and(|t| t.tok == Tok::RightDelim) =>
                {
                    self.pos += 1;
                    break;
                }
                Tok::Pipe => continue,
                Tok::RightDelim if context != PAREN => break,
                Tok::RParen if context == PAREN => break,
                _ => {
                    return Err((
                        t.line,
                        format!("unexpected {} in {context}", describe(&t.tok)),
                    ));
                }
            }
        }
        if !is_assign {
            self.vars.extend(vars.iter().map(|v| v.id));
            if self.vars.len() > MAX_VARIABLES {
                return Err((
                    line,
                    format!("more than {MAX_VARIABLES} variables in scope"),
                ));
            }
        }
        Ok(Pipeline {
            line,
            vars,
            is_assign,
            cmds,
        })
    }

    /// Parses an optional `$x :=`, `$x =` or (in range) `$i, $e :=` prefix.
    fn declaration(
        &mut self,
        allowed: bool,
        two_allowed: bool,
    ) -> Result<(Vec<Var>, bool), ParseError> {
        let toks = &self.tokens[self.pos.min(self.tokens.len())..];
        let is = |i: usize, f: &dyn Fn(&Tok) -> bool| toks.get(i).is_some_and(|t| f(&t.tok));
        let var = |t: &Tok| matches!(t, Tok::Var(_));
        let decl_op = |t: &Tok| matches!(t, Tok::Declare | Tok::Assign);
        let count = if is(0, &var) && is(1, &decl_op) {
            1
        } else if is(0, &var) && is(1, &|t| *t == Tok::Comma) && is(2, &var) && is(3, &decl_op) {
            2
        } else {
            return Ok((Vec::new(), false));
        };
        let line = toks[0].line;
        if !allowed {
            return Err((line, "variable declaration not allowed here".into()));
        }
        if count == 2 && !two_allowed {
            return Err((line, "too many declarations".into()));
        }
        let names: Vec<String> = (0..count)
            .map(|i| match &toks[i * 2].tok {
                Tok::Var(v) => v.clone(),
                _ => unreachable!("checked above"),
            })
            .collect();
        let is_assign = toks[count * 2 - 1].tok == Tok::Assign;
        if names.iter().any(|n| n == "$") {
            return Err((line, "cannot declare $".into()));
        }
        let vars: Vec<Var> = names.iter().map(|n| self.var(n)).collect();
        if is_assign {
            if count == 2 {
                return Err((line, "range can only assign with :=".into()));
            }
            self.check_var(&vars[0], line)?;
        }
        self.pos += count * 2;
        Ok((vars, is_assign))
    }

    fn check_var(&self, var: &Var, line: usize) -> Result<(), ParseError> {
        if self.vars.contains(&var.id) {
            Ok(())
        } else {
            Err((line, format!("undefined variable {:?}", &*var.name)))
        }
    }

    fn command(&mut self) -> Result<Command, ParseError> {
        let line = self.peek().map_or(1, |t| t.line);
        let mut args = Vec::new();
        while let Some(t) = self.peek() {
            if matches!(t.tok, Tok::Pipe | Tok::RightDelim | Tok::RParen) {
                break;
            }
            if !args.is_empty() && !t.space_before {
                return Err((t.line, format!("missing space before {}", describe(&t.tok))));
            }
            args.push(self.operand()?);
        }
        if args.is_empty() {
            return Err((line, "missing value for command".into()));
        }
        Ok(Command { line, args })
    }

    fn operand(&mut self) -> Result<Operand, ParseError> {
        let t = self.next()?;
        let mut fields = Vec::new();
        let term = match t.tok {
            Tok::Ident(name) => {
                if !funcs::exists(&name) {
                    return Err((t.line, format!("function {name:?} not defined")));
                }
                Term::Func(name)
            }
            Tok::Dot => Term::Dot,
            Tok::Field(f) => {
                fields.push(f);
                Term::Dot
            }
            Tok::Nil => Term::Nil,
            Tok::Var(v) => {
                let var = self.var(&v);
                self.check_var(&var, t.line)?;
                Term::Var(var)
            }
            Tok::Bool(b) => Term::Bool(b),
            Tok::Int(i) => Term::Int(i),
            Tok::Float(f) => Term::Float(f),
            Tok::Str(s) => Term::Str(Rc::new(Zeroizing::new(s))),
            Tok::Bytes(b) => Term::Bytes(Rc::new(Zeroizing::new(b))),
            Tok::LParen => {
                self.enter(t.line)?;
                let pipe = self.pipeline(PAREN)?;
                self.depth -= 1;
                Term::Pipe(Box::new(pipe))
            }
            other => {
                return Err((
                    t.line,
                    format!("unexpected {} in operand", describe(&other)),
                ));
            }
        };
        while let Some(Token {
            tok: Tok::Field(f),
            space_before: false,
            line,
        }) = self.peek().cloned()
        {
            // A function's result may be followed by fields (`now.Year`), as Go's chain nodes allow.
            if matches!(
                term,
                Term::Nil
                    | Term::Bool(_)
                    | Term::Int(_)
                    | Term::Float(_)
                    | Term::Str(_)
                    | Term::Bytes(_)
            ) {
                return Err((line, format!("unexpected .{f} after a non-field operand")));
            }
            if matches!(term, Term::Dot) && fields.is_empty() {
                return Err((line, format!("unexpected .{f} after .")));
            }
            fields.push(f);
            self.pos += 1;
        }
        Ok(Operand { term, fields })
    }
}

fn name(kw: Keyword) -> &'static str {
    match kw {
        Keyword::If => "if",
        Keyword::Else => "else",
        Keyword::End => "end",
        Keyword::Range => "range",
        Keyword::With => "with",
        Keyword::Break => "break",
        Keyword::Continue => "continue",
        Keyword::Define => "define",
        Keyword::Template => "template",
        Keyword::Block => "block",
    }
}

/// Describes a token for messages (template text only, never data).
fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Text(_) => "text".into(),
        Tok::LeftDelim => "\"{{\"".into(),
        Tok::RightDelim => "\"}}\"".into(),
        Tok::Ident(i) => format!("identifier {i:?}"),
        Tok::Keyword(k) => format!("keyword {:?}", name(*k)),
        Tok::Field(f) => format!("field .{f}"),
        Tok::Dot => "\".\"".into(),
        Tok::Var(v) => format!("variable {v}"),
        Tok::Str(_) | Tok::Bytes(_) => "string".into(),
        Tok::Int(_) | Tok::Float(_) => "number".into(),
        Tok::Bool(_) => "boolean".into(),
        Tok::Nil => "nil".into(),
        Tok::LParen => "\"(\"".into(),
        Tok::RParen => "\")\"".into(),
        Tok::Pipe => "\"|\"".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Comma => "\",\"".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> String {
        parse(src).unwrap_err().1
    }

    #[test]
    fn parses_control_structures() {
        let nodes = parse("{{ if .a }}x{{ else if .b }}y{{ else }}z{{ end }}").unwrap();
        let [Node::If(branch)] = nodes.as_slice() else {
            panic!("expected one if node: {nodes:?}");
        };
        assert!(matches!(branch.otherwise.as_slice(), [Node::If(_)]));
        parse("{{ range $i, $v := . }}{{ $i }}{{ $v }}{{ break }}{{ end }}").unwrap();
        parse("{{ with $x := .a }}{{ $x }}{{ else }}none{{ end }}").unwrap();
    }

    #[test]
    fn field_chains() {
        let nodes = parse("{{ (.a).b $x.c }}").unwrap_err();
        assert!(nodes.1.contains("undefined variable"));
        let nodes = parse("{{ $x := .a }}{{ $x.c.d }}").unwrap();
        let Node::Action(p) = &nodes[1] else { panic!() };
        assert_eq!(
            p.cmds[0].args[0].fields,
            vec!["c".to_string(), "d".to_string()]
        );
    }

    #[test]
    fn rejects_bad_templates() {
        assert!(err("{{ if .a }}x").contains("missing {{end}}"));
        assert!(err("{{ end }}").contains("unexpected {{end}}"));
        assert!(err("{{ nosuchfunc .a }}").contains("\"nosuchfunc\" not defined"));
        assert!(err("{{ $y }}").contains("undefined variable"));
        assert!(err("{{ break }}").contains("outside"));
        assert!(err("{{ }}").contains("missing value"));
        assert!(err("{{ (.a }}").contains("unexpected"));
        assert!(err(&"{{ if .a }}".repeat(200)).contains("nesting"));
        assert!(
            err(&format!(
                "{{{{ {}1{} }}}}",
                "(".repeat(200),
                ")".repeat(200)
            ))
            .contains("nesting")
        );
    }

    #[test]
    fn variable_scope_ends_with_control() {
        assert!(err("{{ if .a }}{{ $x := 1 }}{{ end }}{{ $x }}").contains("undefined variable"));
        parse("{{ $x := 1 }}{{ if .a }}{{ $x = 2 }}{{ end }}{{ $x }}").unwrap();
    }
}
