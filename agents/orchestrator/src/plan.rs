//! Planning from skill contracts.
//!
//! The planner knows the goal vocabulary (deploy, retrain, rollback) and the
//! release actions of [`Action`]; it never names an agent or a skill. It asks
//! the [`Catalog`] (built from the agents' cards) which skill performs each
//! action, and includes every check skill (phases `data-check`,
//! `model-check`, `gate`) whose required inputs it can supply. Each node's
//! input is filled from the facts the workflow will have by then: the goal,
//! the policy, and what earlier nodes produce (their contracts' `produces`).
//!
//! Architecture invariant: plans depend on contracts, not on code. A new
//! agent whose card declares a `gate` skill the planner can feed joins the
//! next plan with no orchestrator change.

use std::collections::{BTreeMap, BTreeSet};

use mlops_agent_kit::a2a::AgentCard;
use mlops_agent_kit::{Action, Phase, SKILL_CONTRACTS_EXTENSION};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::goal::Goal;
use crate::policy::Policy;

/// One skill as its card declares it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogSkill {
    pub agent: String,
    pub skill: String,
    pub name: String,
    pub phase: Phase,
    pub action: Option<Action>,
    /// Top-level input properties, and those of them required.
    pub properties: BTreeSet<String>,
    pub required: BTreeSet<String>,
    /// Top-level output properties.
    pub produces: BTreeSet<String>,
}

/// Every skill the reachable agents declare, ordered by agent then skill so
/// plans are deterministic.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub skills: Vec<CatalogSkill>,
}

fn schema_keys(schema: &Value, key: &str) -> BTreeSet<String> {
    match schema.get(key) {
        Some(Value::Object(map)) => map.keys().cloned().collect(),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => BTreeSet::new(),
    }
}

impl Catalog {
    /// Reads the skill-contracts extension of each card; `own` (the
    /// orchestrator itself) is left out, as are skills with no contract.
    pub fn from_cards(cards: &[(String, AgentCard)], own: &str) -> Catalog {
        let mut skills = Vec::new();
        for (agent, card) in cards {
            if agent == own {
                continue;
            }
            let contracts = card
                .capabilities
                .extensions
                .iter()
                .flatten()
                .find(|e| e.uri == SKILL_CONTRACTS_EXTENSION)
                .and_then(|e| e.params.as_ref())
                .and_then(|p| p.get("skills"))
                .and_then(Value::as_object);
            let Some(contracts) = contracts else { continue };
            for declared in &card.skills {
                let Some(contract) = contracts.get(&declared.id) else {
                    continue;
                };
                let Some(phase) = contract
                    .get("phase")
                    .and_then(|p| serde_json::from_value::<Phase>(p.clone()).ok())
                else {
                    continue;
                };
                let action = contract
                    .get("action")
                    .and_then(|a| serde_json::from_value::<Action>(a.clone()).ok());
                let consumes = contract.get("consumes").cloned().unwrap_or(Value::Null);
                let produces = contract.get("produces").cloned().unwrap_or(Value::Null);
                skills.push(CatalogSkill {
                    agent: agent.clone(),
                    skill: declared.id.clone(),
                    name: declared.name.clone(),
                    phase,
                    action,
                    properties: schema_keys(&consumes, "properties"),
                    required: schema_keys(&consumes, "required"),
                    produces: schema_keys(&produces, "properties"),
                });
            }
        }
        skills.sort_by(|a, b| (&a.agent, &a.skill).cmp(&(&b.agent, &b.skill)));
        Catalog { skills }
    }

    /// The skill that performs `action`: the first by agent name.
    pub fn for_action(&self, action: Action) -> Result<&CatalogSkill, PlanError> {
        self.skills
            .iter()
            .find(|s| s.action == Some(action))
            .ok_or(PlanError::NoSkillFor(action))
    }

    fn checks(&self, phase: Phase) -> impl Iterator<Item = &CatalogSkill> {
        self.skills
            .iter()
            .filter(move |s| s.phase == phase && s.action.is_none())
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "no reachable agent offers the `{}` action; check the agent registry and that the agent is up",
        action_name(*.0)
    )]
    NoSkillFor(Action),
    #[error("{skill} ({agent}) needs `{field}`, which this plan cannot supply")]
    Unsupplied {
        agent: String,
        skill: String,
        field: String,
    },
}

pub fn action_name(action: Action) -> String {
    serde_json::to_value(action)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A node of the task graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanNode {
    pub id: String,
    pub title: String,
    #[serde(flatten)]
    pub kind: NodeKind,
    pub depends_on: Vec<String>,
    /// Why the node is in the plan.
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum NodeKind {
    /// Work delegated to an agent's skill. `input` is a template: objects
    /// `{"$from": "facts.x"}` or `{"$from": "<node>.field", "pick": [..]}`
    /// are filled in when the node starts.
    Task {
        agent: String,
        skill: String,
        phase: Phase,
        action: Option<Action>,
        input: Value,
    },
    /// A person decides (`TASK_STATE_INPUT_REQUIRED` on the workflow).
    Gate {
        gate: String,
        description: String,
        role: String,
    },
}

impl PlanNode {
    pub fn action(&self) -> Option<Action> {
        match &self.kind {
            NodeKind::Task { action, .. } => *action,
            NodeKind::Gate { .. } => None,
        }
    }

    pub fn is_gate(&self) -> bool {
        matches!(self.kind, NodeKind::Gate { .. })
    }
}

/// A skill the planner considered and left out, with why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub agent: String,
    pub skill: String,
    pub why: String,
}

/// The published plan: nodes, edges, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub goal: Goal,
    pub nodes: Vec<PlanNode>,
    pub skipped: Vec<Skipped>,
}

impl Plan {
    /// `[from, to]` pairs.
    pub fn edges(&self) -> Vec<[String; 2]> {
        self.nodes
            .iter()
            .flat_map(|n| n.depends_on.iter().map(|d| [d.clone(), n.id.clone()]))
            .collect()
    }

    /// The plan as the artifact and graph event carry it.
    pub fn published(&self) -> Value {
        json!({
            "goal": self.goal,
            "nodes": self.nodes,
            "edges": self.edges(),
            "skipped": self.skipped,
        })
    }
}

/// A value a node input can take: a literal or a reference to a fact.
fn from(path: &str) -> Value {
    json!({ "$from": path })
}

fn from_pick(path: &str, pick: &[&str]) -> Value {
    json!({ "$from": path, "pick": pick })
}

/// What the planner can feed a node: input property → value or reference.
type Facts = BTreeMap<String, Value>;

/// The version a release takes to production: literals or references.
struct Candidate {
    model: String,
    version: Value,
    holdout: Option<Value>,
    /// The training data's dataset name and version.
    training_data: Option<(Value, Value)>,
}

struct Builder<'a> {
    catalog: &'a Catalog,
    policy: &'a Policy,
    nodes: Vec<PlanNode>,
    skipped: Vec<Skipped>,
}

impl Builder<'_> {
    /// The input of `skill` from `facts`: every declared property with a
    /// fact, or an error naming the first required one without.
    fn input(skill: &CatalogSkill, facts: &Facts) -> Result<Value, PlanError> {
        if let Some(missing) = skill.required.iter().find(|r| !facts.contains_key(*r)) {
            return Err(PlanError::Unsupplied {
                agent: skill.agent.clone(),
                skill: skill.skill.clone(),
                field: missing.clone(),
            });
        }
        let input: serde_json::Map<String, Value> = skill
            .properties
            .iter()
            .filter_map(|p| facts.get(p).map(|v| (p.clone(), v.clone())))
            .collect();
        Ok(Value::Object(input))
    }

    fn task(
        &mut self,
        id: &str,
        title: String,
        skill: &CatalogSkill,
        facts: &Facts,
        depends_on: Vec<String>,
        why: &str,
    ) -> Result<String, PlanError> {
        let node = action_node(skill, id, &title, facts.clone(), depends_on, why.to_owned())?;
        self.nodes.push(node);
        Ok(id.to_owned())
    }

    fn action(
        &mut self,
        id: &str,
        action: Action,
        title: String,
        facts: &Facts,
        depends_on: Vec<String>,
        why: &str,
    ) -> Result<String, PlanError> {
        let skill = self.catalog.for_action(action)?.clone();
        self.task(id, title, &skill, facts, depends_on, why)
    }

    fn gate(
        &mut self,
        gate: &str,
        description: String,
        depends_on: Vec<String>,
        why: &str,
    ) -> String {
        self.nodes.push(PlanNode {
            id: gate.to_owned(),
            title: format!("gate: {gate}"),
            kind: NodeKind::Gate {
                gate: gate.to_owned(),
                description,
                role: self.policy.approver_role.clone(),
            },
            depends_on,
            why: why.to_owned(),
        });
        gate.to_owned()
    }

    /// Every check skill of `phase` the facts can feed, in parallel after
    /// `after`; the rest are recorded as skipped.
    fn checks(&mut self, phase: Phase, facts: &Facts, after: &[String], why: &str) -> Vec<String> {
        let skills: Vec<CatalogSkill> = self.catalog.checks(phase).cloned().collect();
        let mut ids = Vec::new();
        for skill in skills {
            let id = skill.skill.clone();
            if self.nodes.iter().any(|n| n.id == id) {
                continue;
            }
            match self.task(&id, skill.name.clone(), &skill, facts, after.to_vec(), why) {
                Ok(id) => ids.push(id),
                Err(error) => self.skipped.push(Skipped {
                    agent: skill.agent.clone(),
                    skill: skill.skill.clone(),
                    why: error.to_string(),
                }),
            }
        }
        ids
    }

    /// Checks, gates, canary steps with analysis, promotion: the release of
    /// `version` (a literal or a reference) of `model`.
    fn release(
        &mut self,
        candidate: Candidate,
        steps: &[u32],
        analysis_seconds: u32,
        mut after: Vec<String>,
    ) -> Result<(), PlanError> {
        let Candidate {
            model,
            version,
            holdout,
            training_data,
        } = candidate;
        let model = model.as_str();
        // Rollback must be possible before anything moves.
        self.catalog.for_action(Action::Rollback)?;

        if let Some((name, dataset_version)) = training_data {
            let facts = Facts::from([
                ("dataset".to_owned(), name),
                ("version".to_owned(), dataset_version),
            ]);
            let id = self.action(
                "validate-training-data",
                Action::ValidateData,
                "validate the training data".into(),
                &facts,
                after.clone(),
                "policy: a release starts from validated data",
            )?;
            after = vec![id];
        }

        let mut check_facts = Facts::from([
            ("model".to_owned(), json!(model)),
            ("version".to_owned(), version.clone()),
            (
                "window_minutes".to_owned(),
                json!(self.policy.drift_window_minutes),
            ),
        ]);
        if let Some(holdout) = holdout {
            check_facts.insert("holdout".into(), holdout);
        }
        let checks = self.checks(
            Phase::ModelCheck,
            &check_facts,
            &after,
            "its contract is a model check this release can feed",
        );
        if !checks.is_empty() {
            after = checks;
        }
        let gates = self.checks(
            Phase::Gate,
            &check_facts,
            &after,
            "its contract is an automated gate this release can feed",
        );
        if !gates.is_empty() {
            after = gates;
        }
        if self.policy.pre_deploy_gate {
            let gate = self.gate(
                "approve-canary",
                format!("Start the canary of {model}? The checks' reports are attached."),
                after.clone(),
                "policy: a person approves before traffic moves",
            );
            after = vec![gate];
        }

        let c = &self.policy.canary;
        let base = Facts::from([
            ("model".to_owned(), json!(model)),
            ("version".to_owned(), version.clone()),
            ("canary_version".to_owned(), version.clone()),
            ("window_seconds".to_owned(), json!(analysis_seconds)),
        ]);
        let mut analysis_facts = base.clone();
        for (key, value) in [
            ("max_error_rate", c.max_error_rate.map(|v| json!(v))),
            ("max_latency_p95_ms", c.max_latency_p95_ms.map(|v| json!(v))),
            (
                "max_error_rate_increase",
                c.max_error_rate_increase.map(|v| json!(v)),
            ),
            ("min_requests", c.min_requests.map(|v| json!(v))),
        ] {
            if let Some(value) = value {
                analysis_facts.insert(key.to_owned(), value);
            }
        }
        let canary_weights: Vec<u32> = steps.iter().copied().filter(|w| *w < 100).collect();
        for (i, weight) in canary_weights.iter().enumerate() {
            let mut facts = base.clone();
            facts.insert("weight".into(), json!(weight));
            let (action, why) = if i == 0 {
                (
                    Action::StartCanary,
                    "strategy: the first canary step starts the candidate",
                )
            } else {
                (Action::SetWeight, "strategy: the next canary step")
            };
            let step = self.action(
                &format!("canary-{weight}"),
                action,
                format!("canary {weight}%"),
                &facts,
                after.clone(),
                why,
            )?;
            let analysis = self.action(
                &format!("analysis-{weight}"),
                Action::AnalyzeCanary,
                format!("analysis at {weight}% ({analysis_seconds} s)"),
                &analysis_facts,
                vec![step],
                "strategy: every step is analysed against the SLOs before the next",
            )?;
            after = vec![analysis];
        }
        if self.policy.promotion_gate {
            let gate = self.gate(
                "approve-promotion",
                format!("Promote {model} to all traffic? The canary analysis is attached."),
                after.clone(),
                "policy: a person approves the promotion",
            );
            after = vec![gate];
        }
        let mut facts = base;
        facts.insert(
            "grace_period_seconds".into(),
            json!(self.policy.promote_grace_seconds),
        );
        self.action(
            "promote",
            Action::Promote,
            "promote to 100%".into(),
            &facts,
            after,
            "strategy: the release ends with the candidate as champion",
        )?;
        Ok(())
    }
}

/// A node added while a workflow runs (a rollback, a resize after running
/// out of memory): `skill` fed from `facts`, as the planner would.
pub fn action_node(
    skill: &CatalogSkill,
    id: &str,
    title: &str,
    facts: BTreeMap<String, Value>,
    depends_on: Vec<String>,
    why: String,
) -> Result<PlanNode, PlanError> {
    let input = Builder::input(skill, &facts)?;
    Ok(PlanNode {
        id: id.to_owned(),
        title: title.to_owned(),
        kind: NodeKind::Task {
            agent: skill.agent.clone(),
            skill: skill.skill.clone(),
            phase: skill.phase,
            action: skill.action,
            input,
        },
        depends_on,
        why,
    })
}

/// The rollback node added when a release must be undone.
pub fn rollback_node(
    skill: &CatalogSkill,
    model: &str,
    version: &Value,
    reason: &str,
    after: Vec<String>,
) -> Result<PlanNode, PlanError> {
    let facts = Facts::from([
        ("model".to_owned(), json!(model)),
        ("version".to_owned(), version.clone()),
        ("reason".to_owned(), json!(reason)),
    ]);
    action_node(
        skill,
        "rollback",
        "roll back",
        facts,
        after,
        format!("failure policy: {reason}"),
    )
}

/// The deterministic contract planner.
pub fn plan(goal: &Goal, policy: &Policy, catalog: &Catalog) -> Result<Plan, PlanError> {
    let mut b = Builder {
        catalog,
        policy,
        nodes: Vec::new(),
        skipped: Vec::new(),
    };
    match goal {
        Goal::Deploy {
            model,
            version,
            steps,
            analysis_seconds,
            holdout,
            training_data,
            ..
        } => {
            let holdout = holdout
                .as_ref()
                .map(|_| from_pick("facts.holdout", &["name", "version"]));
            let training = training_data.as_ref().map(|_| {
                (
                    from("facts.training_data.name"),
                    from("facts.training_data.version"),
                )
            });
            b.release(
                Candidate {
                    model: model.clone(),
                    version: json!(version),
                    holdout,
                    training_data: training,
                },
                steps,
                *analysis_seconds,
                Vec::new(),
            )?;
        }
        Goal::Retrain { model, reason, .. } => {
            let mut after = Vec::new();
            if policy.retraining.confirm_first {
                after = vec![b.gate(
                    &format!("approve-retraining-{model}"),
                    format!("Retrain {model}? {reason}"),
                    Vec::new(),
                    "policy: a person confirms retraining before compute is spent",
                )];
            }
            let ingest: Facts = policy.retraining.ingest.clone().into_iter().collect();
            let fresh = b.action(
                "fresh-data",
                Action::IngestData,
                "fresh data".into(),
                &ingest,
                after,
                "retraining starts from fresh data",
            )?;
            let produced = &catalog.for_action(Action::IngestData)?.produces;
            for needed in ["dataset", "train", "holdout"] {
                if !produced.contains(needed) {
                    return Err(PlanError::Unsupplied {
                        agent: "(fresh data)".into(),
                        skill: "ingest".into(),
                        field: needed.into(),
                    });
                }
            }
            let check = b.action(
                "validate-fresh-data",
                Action::ValidateData,
                "validate the fresh data".into(),
                &Facts::from([
                    ("dataset".to_owned(), from("fresh-data.train.name")),
                    ("version".to_owned(), from("fresh-data.train.version")),
                ]),
                vec![fresh.clone()],
                "policy: models train on validated data",
            )?;
            let mut train: Facts = policy.retraining.train.clone().into_iter().collect();
            train.insert("model".into(), json!(model));
            train.insert(
                "dataset".into(),
                from_pick("fresh-data.train", &["name", "version"]),
            );
            let trained = b.action(
                "train",
                Action::TrainModel,
                "train".into(),
                &train,
                vec![check],
                "retraining trains a new version on the fresh data",
            )?;
            b.release(
                Candidate {
                    model: model.clone(),
                    version: from("train.version"),
                    holdout: Some(from_pick("fresh-data.holdout", &["name", "version"])),
                    training_data: None,
                },
                &policy.canary.steps,
                policy.canary.analysis_seconds,
                vec![trained],
            )?;
        }
        Goal::Rollback {
            model,
            version,
            reason,
            ..
        } => {
            let skill = catalog.for_action(Action::Rollback)?;
            b.nodes.push(rollback_node(
                skill,
                model,
                &json!(version),
                reason,
                Vec::new(),
            )?);
        }
    }
    Ok(Plan {
        goal: goal.clone(),
        nodes: b.nodes,
        skipped: b.skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlops_agent_kit::{AgentDefinition, SkillContract};
    use schemars::JsonSchema;

    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct ModelIn {
        model: String,
        version: u32,
        holdout: Option<String>,
    }
    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct HoldoutIn {
        model: String,
        version: u32,
        holdout: String,
    }
    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct WeightIn {
        model: String,
        version: u32,
        weight: u32,
    }
    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct WatchIn {
        model: String,
        canary_version: u32,
        window_seconds: u32,
    }
    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct RollbackIn {
        model: String,
        version: u32,
        reason: Option<String>,
    }
    #[derive(JsonSchema)]
    struct Out {}

    fn card(name: &str, skills: Vec<SkillContract>) -> (String, AgentCard) {
        let definition = AgentDefinition {
            name: name.into(),
            description: "test".into(),
            version: "0".into(),
            skills,
        };
        (name.into(), definition.card("http://127.0.0.1:1"))
    }

    fn catalog(extra: Vec<(String, AgentCard)>) -> Catalog {
        let mut cards = vec![
            card(
                "deployer",
                vec![
                    SkillContract::new::<WeightIn, Out>("start", "start", "", Phase::Deploy)
                        .with_action(Action::StartCanary),
                    SkillContract::new::<WeightIn, Out>("weigh", "weigh", "", Phase::Deploy)
                        .with_action(Action::SetWeight),
                    SkillContract::new::<ModelIn, Out>("crown", "crown", "", Phase::Deploy)
                        .with_action(Action::Promote),
                    SkillContract::new::<RollbackIn, Out>("undo", "undo", "", Phase::Rollback)
                        .with_action(Action::Rollback),
                ],
            ),
            card(
                "watcher",
                vec![
                    SkillContract::new::<WatchIn, Out>("watch", "watch", "", Phase::Observe)
                        .with_action(Action::AnalyzeCanary),
                ],
            ),
            card(
                "checker",
                vec![
                    SkillContract::new::<ModelIn, Out>("quality", "quality", "", Phase::ModelCheck),
                    SkillContract::new::<HoldoutIn, Out>(
                        "fairness",
                        "fairness",
                        "",
                        Phase::ModelCheck,
                    ),
                ],
            ),
        ];
        cards.extend(extra);
        Catalog::from_cards(&cards, "orchestrator")
    }

    fn goal() -> Goal {
        Goal::Deploy {
            model: "fraud-detector".into(),
            version: 2,
            steps: vec![10, 50, 100],
            analysis_seconds: 30,
            holdout: None,
            training_data: None,
            gate_expiry_seconds: None,
            requested_by: None,
        }
    }

    fn ids(plan: &Plan) -> Vec<&str> {
        plan.nodes.iter().map(|n| n.id.as_str()).collect()
    }

    #[test]
    fn a_deploy_plan_follows_the_contracts_and_the_policy() {
        let plan = plan(&goal(), &Policy::default(), &catalog(vec![])).unwrap();
        assert_eq!(
            ids(&plan),
            [
                "quality",
                "approve-canary",
                "canary-10",
                "analysis-10",
                "canary-50",
                "analysis-50",
                "approve-promotion",
                "promote"
            ]
        );
        // The check that needs a holdout the goal lacks is skipped, with why.
        assert_eq!(plan.skipped.len(), 1);
        assert!(
            plan.skipped[0].why.contains("holdout"),
            "{:?}",
            plan.skipped
        );
        let NodeKind::Task { skill, input, .. } = &plan.nodes[2].kind else {
            panic!()
        };
        assert_eq!(skill, "start");
        assert_eq!(
            input,
            &json!({"model": "fraud-detector", "version": 2, "weight": 10})
        );
        let NodeKind::Task { skill, input, .. } = &plan.nodes[3].kind else {
            panic!()
        };
        assert_eq!(skill, "watch");
        assert_eq!(
            input,
            &json!({"model": "fraud-detector", "canary_version": 2, "window_seconds": 30})
        );
        assert_eq!(plan.nodes[4].depends_on, ["analysis-10"]);
        assert!(
            plan.edges()
                .contains(&["approve-promotion".to_owned(), "promote".to_owned()])
        );
    }

    #[test]
    fn a_new_gate_agent_joins_plans_through_its_card() {
        let gate = card(
            "freeze",
            vec![SkillContract::new::<ModelIn, Out>(
                "change-freeze",
                "freeze",
                "",
                Phase::Gate,
            )],
        );
        let plan = plan(&goal(), &Policy::default(), &catalog(vec![gate])).unwrap();
        let node = plan
            .nodes
            .iter()
            .find(|n| n.id == "change-freeze")
            .expect("the gate skill is planned");
        assert_eq!(node.depends_on, ["quality"]);
        let approve = plan
            .nodes
            .iter()
            .find(|n| n.id == "approve-canary")
            .unwrap();
        assert_eq!(approve.depends_on, ["change-freeze"]);
    }

    #[test]
    fn a_missing_action_is_a_clear_error() {
        let cards = vec![card(
            "checker",
            vec![SkillContract::new::<ModelIn, Out>(
                "quality",
                "q",
                "",
                Phase::ModelCheck,
            )],
        )];
        let error = plan(
            &goal(),
            &Policy::default(),
            &Catalog::from_cards(&cards, "orchestrator"),
        )
        .unwrap_err();
        assert!(error.to_string().contains("rollback"), "{error}");
    }
}
