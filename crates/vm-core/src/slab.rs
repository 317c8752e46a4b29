//! A slab: values kept at small, stable indices, which are reused once their
//! value is removed. The COW tree's nodes and a family's views live in one.

use alloc::vec::Vec;

pub(crate) struct Slab<T> {
    items: Vec<Option<T>>,
    vacant: Vec<usize>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab { items: Vec::new(), vacant: Vec::new() }
    }
}

impl<T> Slab<T> {
    /// Stores `value`; returns its index.
    pub fn insert(&mut self, value: T) -> usize {
        match self.vacant.pop() {
            Some(i) => {
                self.items[i] = Some(value);
                i
            }
            None => {
                self.items.push(Some(value));
                self.items.len() - 1
            }
        }
    }

    /// Takes the value at `index` out; the index may be handed out again.
    pub fn remove(&mut self, index: usize) -> T {
        let value = self.items[index].take().expect("a live slab entry");
        self.vacant.push(index);
        value
    }

    pub fn get(&self, index: usize) -> &T {
        self.items[index].as_ref().expect("a live slab entry")
    }

    pub fn get_mut(&mut self, index: usize) -> &mut T {
        self.items[index].as_mut().expect("a live slab entry")
    }

    /// The live values.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter().flatten()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.vacant.len() == self.items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_stable_and_reused() {
        let mut s = Slab::default();
        let (a, b, c) = (s.insert('a'), s.insert('b'), s.insert('c'));
        assert_eq!((a, b, c), (0, 1, 2));
        assert_eq!(s.remove(b), 'b');
        assert_eq!(*s.get(c), 'c');
        assert_eq!(s.insert('d'), b);
        *s.get_mut(a) = 'A';
        assert_eq!(s.iter().collect::<alloc::string::String>(), "Adc");
        for i in [a, b, c] {
            s.remove(i);
        }
        assert!(s.is_empty());
    }
}
