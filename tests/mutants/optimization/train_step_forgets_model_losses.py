"""train_step leaves out model.losses (regularizers)."""

TARGETS = ['tests/test_optimization.py::test_train_step_lowers_the_loss_and_reports_it']


def train_step(model, optimizer, objective, tasks, batch):
    features, labels, masks = batch
    with tf.GradientTape() as tape:
        outputs = model(features, training=True)
        per_example = tf.stack([t.loss(labels[t.name], outputs[t.name]) for t in tasks], axis=1)
        mask = tf.stack([masks[t.name] for t in tasks], axis=1)
        losses, present = masked_task_losses(per_example, mask)
        total = objective(losses, present)
    variables = list(model.trainable_variables) + list(objective.trainable_variables)
    grads = tape.gradient(total, variables)
    optimizer.apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])
    return {"loss": total, "task_losses": losses, "present": present}
