"""PCGrad projects onto the other tasks' already-projected gradients."""

TARGETS = ['tests/test_gradients.py::test_pcgrad_projects_on_original_gradients_in_a_seeded_random_order']


def pcgrad(grads, seed):
    k = grads.shape[0]
    pc = [grads[i] for i in range(k)]
    for i in range(k):
        for j in range(k):
            if i != j:
                dot = tf.reduce_sum(pc[i] * pc[j])
                pc[i] = tf.where(dot < 0, pc[i] - dot / (tf.reduce_sum(pc[j] * pc[j]) + EPS) * pc[j], pc[i])
    update = tf.add_n(pc)
    weights = tf.linalg.lstsq(tf.transpose(grads), update[:, None], l2_regularizer=1e-6)[:, 0]
    return update, weights
