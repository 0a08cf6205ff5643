//! The deploy form: a model version, a canary strategy within the policy's
//! bounds, and the datasets the checks run on. Works before hydration.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::app::MeResource;
use crate::components::{CsrfField, Problem};
use crate::data::{self, StartDeploy};

#[component]
pub fn Deploy() -> impl IntoView {
    let me = expect_context::<MeResource>();
    let query = use_query_map();
    let models = Resource::new(|| (), |_| data::model_names());
    // The demo's holdout and training splits, offered for the checks.
    let demo = Resource::new(|| (), |_| data::demo());
    let deploy = ServerAction::<StartDeploy>::new();
    let outcome = move || {
        deploy
            .value()
            .get()
            .and_then(|r| r.err())
            .map(|error| view! { <Problem error/> })
    };
    view! {
        <Title text="Deploy"/>
        <h1>"Deploy a model version"</h1>
        <p class="muted">
            "The orchestrator plans the release: validation, drift and cost checks in parallel, an approval gate, "
            "canary steps with an analysis after each, a promotion gate, then promotion. It rolls back by itself if an analysis fails."
        </p>
        {outcome}
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let me = me.await.ok();
                let may = me.as_ref().is_some_and(|m| m.may("deploy"));
                let names = models.await.unwrap_or_default();
                let chosen = query.read_untracked().get("model").unwrap_or_default();
                let version = query.read_untracked().get("version").unwrap_or_default();
                let demo = demo.await.ok().flatten().filter(|d| d.model == chosen || chosen.is_empty());
                let holdout = query
                    .read_untracked()
                    .get("holdout")
                    .or_else(|| demo.as_ref().and_then(|d| d.holdout.clone()))
                    .unwrap_or_default();
                let training = query
                    .read_untracked()
                    .get("training_data")
                    .or_else(|| demo.as_ref().and_then(|d| d.training_data.clone()))
                    .unwrap_or_default();
                let options = names
                    .into_iter()
                    .map(|n| {
                        let selected = n == chosen;
                        view! { <option value=n.clone() selected=selected>{n.clone()}</option> }
                    })
                    .collect_view();
                view! {
                    {(!may).then(|| view! { <p class="callout" data-testid="why-not">"Deploying needs the ml-engineer role; you can look but not start a release."</p> })}
                    <ActionForm action=deploy attr:class="form" attr:data-testid="deploy-form">
                        <CsrfField/>
                        <fieldset disabled=!may>
                            <legend>"What"</legend>
                            <p>"Environment: " <strong>"production"</strong> <span class="muted">" (the orchestrator's policy)"</span></p>
                            <label for="model">"Model"</label>
                            <select id="model" name="model" required>{options}</select>
                            <label for="version">"Version"</label>
                            <input id="version" name="version" type="number" min="1" required value=version/>
                        </fieldset>
                        <fieldset disabled=!may>
                            <legend>"Strategy: canary"</legend>
                            <label for="steps">"Traffic steps (%)"</label>
                            <input id="steps" name="steps" value="10, 50" aria-describedby="steps-hint"/>
                            <p id="steps-hint" class="hint">"Rising percentages, 1–100, at most 10 steps. Empty: the policy's steps."</p>
                            <label for="analysis">"Analysis window per step (s)"</label>
                            <input id="analysis" name="analysis_seconds" type="number" min="10" max="3600" placeholder="policy default" aria-describedby="analysis-hint"/>
                            <p id="analysis-hint" class="hint">"Within the policy's bounds (10–3600 s by default)."</p>
                        </fieldset>
                        <fieldset disabled=!may>
                            <legend>"Data the checks use"</legend>
                            <label for="holdout">"Holdout dataset"</label>
                            <input id="holdout" name="holdout" placeholder="name@version" aria-describedby="data-hint" value=holdout/>
                            <label for="training">"Training dataset"</label>
                            <input id="training" name="training_data" placeholder="name@version" aria-describedby="data-hint" value=training/>
                            <p id="data-hint" class="hint">"The labelled holdout feeds the quality and fairness checks, the training data the data check. Empty: those checks are left out of the plan."</p>
                        </fieldset>
                        <button type="submit" class="primary" disabled=!may>"Deploy"</button>
                    </ActionForm>
                }
                .into_any()
            })}
        </Transition>
    }
}
