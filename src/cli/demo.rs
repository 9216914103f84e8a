//! `palabre demo`: a realistic node to look at. A closed national consultation on the digital
//! transformation of public services and an open local one, in French, with verified
//! organisations, arguments both ways, sources and votes. Everything goes through the same
//! services as real use; only the dates of the closed consultation's contributions are moved
//! back afterwards, so that the pages read like a debate that really took place.
use chrono::{DateTime, Duration, TimeZone, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::app::AppState;
use crate::domain::{Actor, ProposalState, Role, Stance, VoteValue};
use crate::error::AppResult;
use crate::services::accounts::{self, NewAccount, actor_of};
use crate::services::consultations::{self, ConsultationChanges, NewConsultation};
use crate::services::contributions::{self, NewArgument, NewSource};
use crate::services::proposals::{self, NewProposal, OfficialAnswer};
use crate::services::votes;
use crate::store::{argument, consultation, proposal, source};

/// Every demo account signs in with this password.
pub const DEMO_PASSWORD: &str = "palabre-demo";

const NATIONAL: &str = "transformation-numerique";
const LOCAL: &str = "kerlann-services-numeriques";

struct Person {
    username: &'static str,
    display_name: &'static str,
    role: Role,
    verified: Option<&'static str>,
}

const PEOPLE: &[Person] = &[
    Person {
        username: "orga",
        display_name: "Équipe de la concertation",
        role: Role::Admin,
        verified: Some("Compte vérifié"),
    },
    Person {
        username: "modo",
        display_name: "Modération",
        role: Role::Moderator,
        verified: None,
    },
    Person {
        username: "propositions",
        display_name: "Propositions dans le débat public",
        role: Role::Member,
        verified: Some("Compte vérifié"),
    },
    Person {
        username: "labo-public",
        display_name: "Labo d'innovation publique",
        role: Role::Member,
        verified: Some("Administration"),
    },
    Person {
        username: "fedenum",
        display_name: "Fédération du numérique",
        role: Role::Member,
        verified: Some("Organisation professionnelle"),
    },
    Person {
        username: "ville-kerlann",
        display_name: "Ville de Kerlann",
        role: Role::Admin,
        verified: Some("Collectivité"),
    },
    Person {
        username: "camille",
        display_name: "Camille L.",
        role: Role::Member,
        verified: None,
    },
    Person {
        username: "yannick",
        display_name: "Yannick Le Gall",
        role: Role::Member,
        verified: None,
    },
    Person {
        username: "soizic",
        display_name: "Soizic",
        role: Role::Member,
        verified: None,
    },
    Person {
        username: "mathis",
        display_name: "Mathis R.",
        role: Role::Member,
        verified: None,
    },
    Person {
        username: "nadia",
        display_name: "Nadia B.",
        role: Role::Member,
        verified: None,
    },
];

struct DemoArgument {
    author: &'static str,
    stance: Stance,
    body: &'static str,
}

struct DemoSource {
    author: &'static str,
    title: &'static str,
    url: &'static str,
    description: Option<&'static str>,
}

struct DemoProposal {
    author: &'static str,
    title: &'static str,
    body: &'static str,
    arguments: &'static [DemoArgument],
    sources: &'static [DemoSource],
    /// (voter, vote)
    votes: &'static [(&'static str, VoteValue)],
    answer: Option<(ProposalState, &'static str)>,
}

const NATIONAL_PROPOSALS: &[DemoProposal] = &[
    DemoProposal {
        author: "propositions",
        title: "Mettre en réseau les agents publics qui font du numérique",
        body: "- Réunir plusieurs fois par an les équipes numériques des ministères, des collectivités et des opérateurs, autour de journées d'échange et de défis ouverts.\n\n- Donner à chaque agent un espace pour partager ses retours d'expérience, ses outils et ses erreurs, au-delà de son administration.",
        arguments: &[
            DemoArgument {
                author: "labo-public",
                stance: Stance::For,
                body: "Nous animons déjà des rencontres mensuelles entre services : elles ont fait naître plusieurs projets communs que personne n'aurait lancés seul. Un réseau national donnerait de l'ampleur à ces initiatives.",
            },
            DemoArgument {
                author: "fedenum",
                stance: Stance::For,
                body: "Ouvrir ces rencontres aux entreprises et aux associations du secteur permettrait de confronter les besoins publics aux solutions existantes.",
            },
            DemoArgument {
                author: "yannick",
                stance: Stance::For,
                body: "Tout à fait d'accord. On pourrait aller plus loin avec des communautés par ministère, qui feraient remonter les bonnes pratiques vers un niveau interministériel.",
            },
            DemoArgument {
                author: "soizic",
                stance: Stance::Against,
                body: "Attention à ne pas brouiller la frontière entre intérêt général et intérêts privés : ces échanges doivent servir à mieux distinguer ce qui relève du service public, pas à l'aligner sur le privé.",
            },
        ],
        sources: &[DemoSource {
            author: "labo-public",
            title: "Retour d'expérience : un an de rencontres inter-services",
            url: "https://example.org/retours/rencontres-inter-services",
            description: Some("Bilan chiffré des rencontres organisées en 2014."),
        }],
        votes: &[
            ("camille", VoteValue::Agree),
            ("yannick", VoteValue::Agree),
            ("soizic", VoteValue::Mixed),
            ("mathis", VoteValue::Agree),
            ("nadia", VoteValue::Disagree),
        ],
        answer: Some((
            ProposalState::Accepted,
            "Un réseau des communautés numériques de l'État sera lancé au premier semestre, ouvert aux collectivités volontaires.",
        )),
    },
    DemoProposal {
        author: "camille",
        title: "Ouvrir des laboratoires d'innovation dans les administrations",
        body: "Créer dans chaque administration un lieu où les agents peuvent tester des idées, réutiliser leurs propres données et prototyper des services, sans attendre que la demande remonte toute la hiérarchie.\n\nUne boîte à idées numérique pourrait servir de porte d'entrée.",
        arguments: &[DemoArgument {
            author: "mathis",
            stance: Stance::For,
            body: "Ces laboratoires doivent pouvoir produire du logiciel, pas seulement accompagner : sinon les prototypes qui marchent ne sortent jamais du laboratoire.",
        }],
        sources: &[],
        votes: &[("yannick", VoteValue::Agree), ("nadia", VoteValue::Agree)],
        answer: Some((
            ProposalState::UnderStudy,
            "La proposition est étudiée avec les secrétariats généraux des ministères.",
        )),
    },
    DemoProposal {
        author: "propositions",
        title: "Déployer le numérique dans les services publics de proximité",
        body: "- Proposer aux territoires une offre de services mutualisés pour accompagner les réorganisations.\n\n- Repérer et faire connaître les initiatives locales qui rapprochent l'action publique de ses usagers.",
        arguments: &[
            DemoArgument {
                author: "fedenum",
                stance: Stance::For,
                body: "Des outils mutualisés à l'échelle d'un territoire faciliteraient aussi les démarches des petites entreprises.",
            },
            DemoArgument {
                author: "nadia",
                stance: Stance::For,
                body: "Les applications de signalement d'un problème sur la voie publique montrent que cela fonctionne, à condition que la collectivité réponde vraiment.",
            },
            DemoArgument {
                author: "camille",
                stance: Stance::For,
                body: "D'accord, mais il faut d'abord former les agents : un outil mal maîtrisé ne rapproche personne.",
            },
            DemoArgument {
                author: "labo-public",
                stance: Stance::For,
                body: "Sans un socle solide (réseaux, équipements, hébergement), aucun service de proximité ne tiendra dans la durée.",
            },
            DemoArgument {
                author: "soizic",
                stance: Stance::Against,
                body: "Les sites des collectivités se multiplient déjà ; mieux vaudrait mutualiser et présenter l'information de la même façon partout que d'en créer de nouveaux.",
            },
            DemoArgument {
                author: "yannick",
                stance: Stance::Against,
                body: "Il faudrait aussi montrer à l'écran ce qui distingue une administration d'État d'une collectivité, sinon l'usager s'y perd.",
            },
        ],
        sources: &[],
        votes: &[
            ("camille", VoteValue::Agree),
            ("mathis", VoteValue::Mixed),
            ("soizic", VoteValue::Disagree),
        ],
        answer: None,
    },
];

const LOCAL_PROPOSALS: &[DemoProposal] = &[
    DemoProposal {
        author: "nadia",
        title: "Un guichet numérique unique pour les démarches de la ville",
        body: "Aujourd'hui il faut trois comptes différents pour inscrire un enfant à la cantine, réserver une salle et payer le stationnement résident. Un seul compte, une seule adresse.",
        arguments: &[
            DemoArgument {
                author: "mathis",
                stance: Stance::For,
                body: "Oui ! Et que le guichet fonctionne aussi sur téléphone, c'est là que la plupart des gens font leurs démarches.",
            },
            DemoArgument {
                author: "soizic",
                stance: Stance::Against,
                body: "Un guichet unique ne doit pas remplacer l'accueil en mairie : tout le monde n'est pas à l'aise avec un écran.",
            },
        ],
        sources: &[DemoSource {
            author: "nadia",
            title: "Baromètre du numérique : usages des démarches en ligne",
            url: "https://example.org/barometre-numerique",
            description: None,
        }],
        votes: &[
            ("camille", VoteValue::Agree),
            ("mathis", VoteValue::Agree),
            ("soizic", VoteValue::Mixed),
        ],
        answer: None,
    },
    DemoProposal {
        author: "yannick",
        title: "Des ateliers numériques dans chaque médiathèque de quartier",
        body: "Une permanence hebdomadaire pour aider à faire ses démarches en ligne, animée par des médiateurs et des bénévoles.",
        arguments: &[],
        sources: &[],
        votes: &[("nadia", VoteValue::Agree)],
        answer: None,
    },
];

async fn demo_actor(state: &AppState, username: &str) -> anyhow::Result<Actor> {
    Ok(actor_of(
        &accounts::find_by_username(&state.db, username).await?,
    ))
}

/// Posts the proposals with their arguments, sources and votes; returns the proposal ids.
async fn post_debate(
    state: &AppState,
    slug: &str,
    items: &[DemoProposal],
) -> anyhow::Result<Vec<i32>> {
    let mut ids = Vec::new();
    for item in items {
        let author = demo_actor(state, item.author).await?;
        let posted = proposals::create(
            state,
            &author,
            slug,
            NewProposal {
                title: item.title.into(),
                body: item.body.into(),
            },
        )
        .await?;
        for arg in item.arguments {
            let who = demo_actor(state, arg.author).await?;
            contributions::add_argument(
                state,
                &who,
                posted.id,
                NewArgument {
                    stance: arg.stance,
                    body: arg.body.into(),
                },
            )
            .await?;
        }
        for src in item.sources {
            let who = demo_actor(state, src.author).await?;
            contributions::add_source(
                state,
                &who,
                posted.id,
                NewSource {
                    title: src.title.into(),
                    url: src.url.into(),
                    description: src.description.map(Into::into),
                },
            )
            .await?;
        }
        for (voter, value) in item.votes {
            let who = demo_actor(state, voter).await?;
            votes::cast(state, &who, posted.id, *value).await?;
        }
        ids.push(posted.id);
    }
    Ok(ids)
}

/// Spreads the closed consultation's contributions over its real period, in posting order.
async fn backdate(state: &AppState, proposal_ids: &[i32], start: DateTime<Utc>) -> AppResult<()> {
    let mut when = start;
    for id in proposal_ids {
        when += Duration::hours(26) + Duration::minutes(37);
        proposal::Entity::update_many()
            .col_expr(proposal::Column::CreatedAt, Expr::value(when))
            .col_expr(proposal::Column::UpdatedAt, Expr::value(when))
            .filter(proposal::Column::Id.eq(*id))
            .exec(&state.db)
            .await?;
        let args = argument::Entity::find()
            .filter(argument::Column::ProposalId.eq(*id))
            .all(&state.db)
            .await?;
        for arg in args {
            when += Duration::hours(31) + Duration::minutes(11);
            argument::Entity::update_many()
                .col_expr(argument::Column::CreatedAt, Expr::value(when))
                .col_expr(argument::Column::UpdatedAt, Expr::value(when))
                .filter(argument::Column::Id.eq(arg.id))
                .exec(&state.db)
                .await?;
        }
        source::Entity::update_many()
            .col_expr(source::Column::CreatedAt, Expr::value(when))
            .filter(source::Column::ProposalId.eq(*id))
            .exec(&state.db)
            .await?;
    }
    Ok(())
}

pub async fn load(state: &AppState) -> anyhow::Result<()> {
    if consultation::Entity::find()
        .filter(consultation::Column::Slug.eq(NATIONAL))
        .one(&state.db)
        .await?
        .is_some()
    {
        println!("the demo data is already loaded");
        return Ok(());
    }
    for person in PEOPLE {
        accounts::create_account(
            &state.db,
            NewAccount {
                username: person.username,
                password: DEMO_PASSWORD,
                display_name: Some(person.display_name),
                role: person.role,
                verified_label: person.verified,
            },
        )
        .await?;
    }
    let organiser = demo_actor(state, "orga").await?;
    let now = Utc::now();
    let national_opens = Utc
        .with_ymd_and_hms(2014, 10, 3, 9, 0, 0)
        .single()
        .unwrap_or(now);
    let national_closes = Utc
        .with_ymd_and_hms(2015, 2, 28, 23, 0, 0)
        .single()
        .unwrap_or(now);
    // Posted while open, then closed by moving the closing date back, as an organiser would.
    consultations::create(
        state,
        &organiser,
        NewConsultation {
            slug: NATIONAL.into(),
            title: "Transformation numérique des relations entre administrations et usagers".into(),
            body: "Comment le numérique peut-il rapprocher les services publics de celles et ceux qui les utilisent ?\n\n\
                   Cette concertation nationale invitait agents, collectivités, entreprises et citoyens à proposer des pistes, \
                   à argumenter pour ou contre celles des autres et à citer leurs sources.\n\n\
                   **Questions posées** : quelle feuille de route pour l'État ? comment mieux associer les agents ? \
                   comment faire collaborer les collectivités entre elles ?".into(),
            themes: vec!["Action publique".into(), "Numérique".into(), "Agents publics".into()],
            opens_at: national_opens,
            closes_at: now + Duration::days(1),
        },
    )
    .await?;
    let ids = post_debate(state, NATIONAL, NATIONAL_PROPOSALS).await?;
    for (id, item) in ids.iter().zip(NATIONAL_PROPOSALS) {
        if let Some((state_value, text)) = item.answer {
            proposals::answer(
                state,
                &organiser,
                *id,
                OfficialAnswer {
                    state: state_value,
                    answer: Some(text.into()),
                    duplicate_of: None,
                },
            )
            .await?;
        }
    }
    consultations::update(
        state,
        &organiser,
        NATIONAL,
        ConsultationChanges {
            closes_at: Some(national_closes),
            ..Default::default()
        },
    )
    .await?;
    backdate(state, &ids, national_opens + Duration::days(20)).await?;

    let city = demo_actor(state, "ville-kerlann").await?;
    consultations::create(
        state,
        &city,
        NewConsultation {
            slug: LOCAL.into(),
            title: "Kerlann : quels services numériques pour la ville ?".into(),
            body: "La ville de Kerlann prépare son schéma numérique. Proposez ce qui vous simplifierait la vie, \
                   argumentez, votez : les propositions les plus soutenues seront étudiées en conseil municipal.\n\n\
                   Des ateliers ouverts à tous se tiennent à la médiathèque centrale chaque samedi du mois.".into(),
            themes: vec!["Démarches en ligne".into(), "Inclusion numérique".into()],
            opens_at: now - Duration::days(7),
            closes_at: now + Duration::days(60),
        },
    )
    .await?;
    post_debate(state, LOCAL, LOCAL_PROPOSALS).await?;

    consultations::create(
        state,
        &city,
        NewConsultation {
            slug: "kerlann-budget-participatif".into(),
            title: "Budget participatif 2027".into(),
            body: "Déposez vos projets pour le quartier : l'appel s'ouvre bientôt.".into(),
            themes: vec!["Budget".into()],
            opens_at: now + Duration::days(30),
            closes_at: now + Duration::days(90),
        },
    )
    .await?;

    println!("demo data loaded: 3 consultations (closed, open, upcoming)");
    println!(
        "sign in as any of {} with the password '{DEMO_PASSWORD}' ('orga' is an admin, 'modo' a moderator)",
        PEOPLE
            .iter()
            .map(|p| p.username)
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}
