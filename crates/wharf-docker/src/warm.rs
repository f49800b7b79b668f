//! Creating a step's container ahead of time.
//!
//! A container is created (≈ 70 ms of engine time) while the steps it waits for are
//! still running, so that when its turn comes only the start is left. Correctness
//! does not depend on guessing right: just before the start, the image reference is
//! resolved again, and a container created from an image that was replaced meanwhile
//! (a build, a pull through the Docker socket) is recreated.

use wharf_spec::{Action, Step, shell_words};

use crate::DockerExecutor;

/// A container created ahead of its step.
pub(crate) struct Warm {
    /// The container's id.
    container: String,
    /// The image id the container was created from.
    image_id: String,
}

impl DockerExecutor {
    /// Records that `step` started, and creates the containers of the steps that can
    /// only be waiting for steps already started.
    pub(crate) fn step_started(&self, step: &Step) {
        let ready: Vec<Step> = {
            let Ok(mut started) = self.started.lock() else {
                return;
            };
            started.insert(step.id.clone());
            self.task
                .steps
                .iter()
                .filter(|next| next.depends_on.contains(&step.id))
                .filter(|next| next.depends_on.iter().all(|d| started.contains(d)))
                .filter(|next| !started.contains(&next.id))
                .cloned()
                .collect()
        };
        for next in ready {
            self.warm(next);
        }
    }

    /// Starts creating `step`'s container in the background, when that is safe: a
    /// `cmd` step without `pull`, whose image is already on the engine, and that uses
    /// no step outputs (its command is only known once they are bound).
    fn warm(&self, step: Step) {
        let Action::Cmd { cmd, container } = &step.action else {
            return;
        };
        if container.pull || wharf_spec::outputs::has_references(&step) {
            return;
        }
        let Ok(words) = shell_words::split(cmd, None) else {
            return;
        };
        let Some((image, args)) = words.split_first() else {
            return;
        };
        let (image, args) = (image.clone(), args.to_vec());
        let Ok(mut warming) = self.warming.lock() else {
            return;
        };
        if warming.contains_key(&step.id) {
            return;
        }
        let this = self.clone();
        let id = step.id.clone();
        warming.insert(
            id,
            tokio::spawn(async move {
                let image_id = this.docker.inspect_image(&image).await.ok()?.id?;
                let Action::Cmd { container, .. } = &step.action else {
                    return None;
                };
                let config = this
                    .container_config(&step, container, &image, &args)
                    .ok()?;
                let container = this.create_container(&step.id, &image, config).await.ok()?;
                Some(Warm {
                    container,
                    image_id,
                })
            }),
        );
    }

    /// The id of `step`'s container when it was created ahead of time from the image
    /// `image` still names. A container made from a replaced image is removed.
    pub(crate) async fn take_warm(&self, step: &Step, image: &str) -> Option<String> {
        let pending = self
            .warming
            .lock()
            .ok()
            .and_then(|mut w| w.remove(&step.id))?;
        let warm = pending.await.ok()??;
        let current = self
            .docker
            .inspect_image(image)
            .await
            .ok()
            .and_then(|i| i.id);
        if current.as_deref() == Some(warm.image_id.as_str()) {
            return Some(warm.container);
        }
        self.remove_container(&self.container_name(&step.id)).await;
        None
    }

    /// Waits for every container being created ahead of time (cleanup then finds them).
    pub(crate) async fn warming_finished(&self) {
        crate::await_all(&self.warming).await;
    }
}
